#!/bin/sh
# run sequentially (one training at a time)
export OMP_NUM_THREADS=1; P=/work/main/.venv/bin/python
while pgrep -f "F3-adv10" >/dev/null; do sleep 5; done
S='"n_train":2000,"n_val":1000,"epochs":8,"n_probe":600'
H='"data":{"background_std":0.03,"white_noise":0.0075,"l_amplitude":0.025,"h_amplitude":0.0098}'
$P train_proto.py "{\"tag\":\"S-adv3-nowarm\",\"regime\":\"adversarial\",\"eps\":0.01569,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.0,$S}" > logs_q1a.txt 2>&1
$P train_proto.py "{\"tag\":\"S-half-van\",\"regime\":\"vanilla\",$S,$H}" > logs_q1b.txt 2>&1
$P train_proto.py "{\"tag\":\"S-half-adv3-eps2\",\"regime\":\"adversarial\",\"eps\":0.007843,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.35,$S,$H}" > logs_q1c.txt 2>&1
$P train_proto.py "{\"tag\":\"S-adv3-eps2-on-4design\",\"regime\":\"adversarial\",\"eps\":0.007843,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.35,$S}" > logs_q1d.txt 2>&1
$P train_proto.py "{\"tag\":\"S-van-translate\",\"regime\":\"vanilla\",\"augment\":\"translate\",$S}" > logs_q1e.txt 2>&1
echo done > queue1.done
#!/bin/sh
export OMP_NUM_THREADS=1; P=/work/main/.venv/bin/python
while [ ! -f queue1.done ]; do sleep 5; done
$P train_proto.py '{"tag":"F3-van-seed32","regime":"vanilla","epochs":10,"seed":32}' > logs_q2a.txt 2>&1
$P train_proto.py '{"tag":"F3-van-12ep","regime":"vanilla","epochs":12}' > logs_q2b.txt 2>&1
echo done > queue2.done
#!/bin/sh
export OMP_NUM_THREADS=1; P=/work/main/.venv/bin/python
while [ ! -f queue2.done ]; do sleep 5; done
S='"n_train":2000,"n_val":1000,"epochs":8,"n_probe":600'
$P train_proto.py "{\"tag\":\"S-adv3-H2.5x\",\"regime\":\"adversarial\",\"eps\":0.01569,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.35,$S,\"data\":{\"h_amplitude\":0.0392}}" > logs_q3a.txt 2>&1
$P train_proto.py "{\"tag\":\"S-adv3-H3.5x\",\"regime\":\"adversarial\",\"eps\":0.01569,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.35,$S,\"data\":{\"h_amplitude\":0.0549}}" > logs_q3b.txt 2>&1
echo done > queue3.done
#!/bin/sh
export OMP_NUM_THREADS=1; P=/work/main/.venv/bin/python
while [ ! -f queue3.done ]; do sleep 5; done
H='"data":{"background_std":0.03,"white_noise":0.0075,"l_amplitude":0.025,"h_amplitude":0.0098}'
$P train_proto.py "{\"tag\":\"F-half-van\",\"regime\":\"vanilla\",\"epochs\":10,$H}" > logs_q4a.txt 2>&1
$P train_proto.py "{\"tag\":\"F-half-adv3-eps2\",\"regime\":\"adversarial\",\"eps\":0.007843,\"train_steps\":3,\"alpha_mult\":2.5,\"warmup\":0.35,\"epochs\":10,$H}" > logs_q4b.txt 2>&1
echo done > queue4.done
