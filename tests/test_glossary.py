"""One vocabulary: every term the book uses is defined once, in ``book/glossary.md``, and
each page links a term there where it first uses it.

The glossary's sections carry MyST labels, ``(gloss-l-bias)=`` before ``### L-bias``; a
page links one as ``[L-bias](gloss-l-bias)`` (MyST resolves a link whose target is not a
URL or a file as a cross-reference, across documents). :data:`TERMS` maps each label to
the regular expressions (case-insensitive) of the words that name the term on a page.

The first-use rule (:func:`first_use_problems`), per page (the notebooks' markdown cells in
order, then ``index.md`` and ``citation.md``): the first place a term's words occur must lie
inside a link to that term's label. Exempt, because a link cannot or should not go there:
headings (``#`` lines), code (inline and fenced, which includes a role's target such as
{cite}`...`), math (``$...$``, ``$$...$$``), link targets, the text of links to anything
but the glossary, and MyST target lines. A term's later uses need no link, and a term with
no words in :data:`TERMS` (the verdict: the word also names a bin's "kept or removed" on
page 11) is linked by hand where it means the glossary's sense."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

BOOK = Path(__file__).resolve().parent.parent / "book"
GLOSSARY = BOOK / "glossary.md"

#: label -> the words that name the term on a page (regular expressions, case-insensitive)
TERMS: dict[str, tuple[str, ...]] = {
    "gloss-cue-world": (r"\b(?:two-)?cue[- ]world\b",),
    "gloss-cues": (r"\b[LH][- ]cue\b", r"\b(?:low|high)-frequency cue\b"),
    "gloss-cue-reliability": (r"\brho_[LH]\b", r"\breliab(?:le|ility|ilities)\b"),
    "gloss-probe-sets": (r"\bprobe (?:sets?|images)\b", r"\bprobes\b", r"\bcue-conflict\b"),
    "gloss-regime": (r"\bregimes?\b",),
    "gloss-profile": (r"\bprofiles?\b",),
    "gloss-eps": (r"\beps\b",),
    "gloss-pgd": (r"\bA?PGD\b",),
    "gloss-chance": (r"\bchance\b",),
    "gloss-fit-score-halves": (r"\b(?:fit|score)[- ]half\b",),
    "gloss-artefact-store": (r"\bartefact store\b",),
    "gloss-dataset-mask": (r"\bdataset masks?\b",),
    "gloss-class-mask": (r"\bclass masks?\b",),
    "gloss-single-image-mask": (r"\bsingle-image masks?\b",),
    "gloss-objective": (r"\bobjectives?\b", r"\binvariance terms?\b"),
    "gloss-symmetric-part": (r"\bsymmetric parts?\b",),
    "gloss-step-budget": (r"\b(?:step )?budget\b",),
    "gloss-converged": (r"\bconverge[ds]?\b", r"\bconvergence\b"),
    "gloss-one-cycle": (r"\bone-cycle\b",),
    "gloss-lambda-path": (r"\blambda path\b", r"\bhalf rule\b", r"\bsparsest accurate mask\b"),
    "gloss-mask-seed": (r"\bmask seeds?\b",),
    "gloss-fraction-kept": (r"\bfraction kept\b", r"\bband energy\b"),
    "gloss-behaviour": (r"\bbehaviour\b",),
    "gloss-l-bias": (r"\bL-bias(?:es)?\b",),
    "gloss-l-share": (r"\bL-shares?\b",),
    "gloss-use-share": (r"\buse share\b",),
    "gloss-sufficiency-sensitivity": (r"\bsufficiency\b", r"\bsensitivity\b"),
    "gloss-auroc": (r"\bAUROC\b", r"\bprecision at k\b"),
    "gloss-conditions": (r"\bconditions?\b",),
    "gloss-positive-controls": (r"\bpositive controls?\b",),
    "gloss-robust-h": (r"\brobust-H\b",),
    "gloss-verdict": (),
    "gloss-by-construction": (r"\bby construction\b",),
    "gloss-seed-spread": (r"\b(?:within )?seed spread\b",),
}

LABEL = re.compile(r"^\((gloss-[a-z0-9-]+)\)=\s*$", re.M)
GLOSSARY_LINK = re.compile(r"\[([^\]\n]*)\]\((gloss-[^)\s]*)\)")
ANY_LINK = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)")
# what a link cannot (or should not) sit in; each region is blanked, positions kept
EXEMPT = [re.compile(p, re.M | re.S) for p in (
    r"^```.*?^```", r"^~~~.*?^~~~",          # fenced code
    r"\$\$.*?\$\$", r"\$[^$\n]+\$",          # math
    r"`[^`\n]*`",                            # inline code, a role's target
    r"^ {0,3}#{1,6} .*?$",                   # headings
    r"^\([^)\n]*\)=\s*$",                    # MyST targets
    r"<!--.*?-->",                           # comments
)]
# a number this page may not type: a percentage, or a decimal other than a definition's
PERCENTAGE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.%]|\s%)")
DEFINITION_DECIMALS = {"0.5"}  # the L-bias's and the AUROC's "no preference", "chance"


# ---------------------------------------------------------------------------- helpers
def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def prose(text: str) -> str:
    """``text`` with every exempt region blanked (same length, so positions agree): what
    the first-use rule reads. A glossary link keeps its text; other links are blanked."""
    for pattern in EXEMPT:
        for m in pattern.finditer(text):
            text = _blank(text, m.start(), m.end())
    for m in list(ANY_LINK.finditer(text)):
        glossary = GLOSSARY_LINK.fullmatch(m.group(0))
        start = m.start() + glossary.end(1) if glossary else m.start()  # "](target)", or all of it
        text = _blank(text, start, m.end())
    return text


def first_use(text: str, forms) -> re.Match | None:
    """The first occurrence of any of ``forms`` in the prose of ``text`` (the longest
    where two start together)."""
    readable = prose(text)
    found = [m for form in forms for m in [re.search(form, readable, re.I)] if m]
    return min(found, key=lambda m: (m.start(), -len(m.group(0)))) if found else None


def first_use_problems(text: str, terms: dict = TERMS) -> list[str]:
    """One line per term whose first use in ``text`` is not inside a link to its label."""
    links = [(m.start(1), m.end(1), m.group(2)) for m in GLOSSARY_LINK.finditer(text)]
    problems = []
    for label, forms in terms.items():
        m = first_use(text, forms)
        if m is None:
            continue
        if not any(start <= m.start() and m.end() <= end and target == label for start, end, target in links):
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"{m.group(0)!r} (line {line}) is not linked to {label}")
    return problems


def labels_in(text: str) -> list[str]:
    return LABEL.findall(text)


def linked_labels(text: str) -> set[str]:
    return {m.group(2) for m in GLOSSARY_LINK.finditer(text)}


def typed_numbers(text: str) -> list[str]:
    """Percentages and decimals (other than :data:`DEFINITION_DECIMALS`) outside code."""
    readable = text
    for pattern in (EXEMPT[0], EXEMPT[4]):
        readable = pattern.sub(lambda m: " " * len(m.group(0)), readable)
    return PERCENTAGE.findall(readable) + [d for d in DECIMAL.findall(readable) if d not in DEFINITION_DECIMALS]


def pages() -> dict[str, str]:
    """Each page's markdown: a notebook's markdown cells in order; index and citation."""
    out = {}
    for nb in sorted(BOOK.glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        out[nb.name] = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for name in ("index.md", "citation.md"):
        out[name] = (BOOK / name).read_text(encoding="utf-8")
    return out


# ------------------------------------------------------------------------------ tests
def test_every_term_has_one_section_in_the_glossary():
    text = GLOSSARY.read_text(encoding="utf-8")
    labels = labels_in(text)
    assert len(labels) == len(set(labels)), "a label defined twice"
    assert set(labels) == set(TERMS), (f"terms without a section: {sorted(set(TERMS) - set(labels))}; "
                                       f"sections not in TERMS: {sorted(set(labels) - set(TERMS))}")
    for label in labels:  # each label names a section: its heading follows
        assert re.search(rf"^\({label}\)=\n### \S", text, re.M), f"{label} is not followed by a ### heading"
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    assert "glossary" in [c["file"] for part in toc["parts"] for c in part["chapters"]]


def test_every_glossary_link_has_its_label():
    defined = set(labels_in(GLOSSARY.read_text(encoding="utf-8")))
    texts = {**pages(), "glossary.md": GLOSSARY.read_text(encoding="utf-8")}
    broken = {name: sorted(linked_labels(text) - defined) for name, text in texts.items()}
    assert not any(broken.values()), {n: b for n, b in broken.items() if b}


def test_each_page_links_a_term_where_it_first_uses_it():
    problems = {name: first_use_problems(text) for name, text in pages().items()}
    assert not any(problems.values()), "\n".join(f"{n}: {p}" for n, ps in problems.items() for p in ps)


def test_the_glossary_types_no_measured_number():
    text = GLOSSARY.read_text(encoding="utf-8")
    assert typed_numbers(text) == []


# ------------------------------------------------------- the rules can fail (crafted)
def test_first_use_rule_on_crafted_text():
    terms = {"gloss-l-bias": TERMS["gloss-l-bias"]}
    assert first_use_problems("The L-bias of a network.", terms)
    assert first_use_problems("The L-bias, then the [L-bias](gloss-l-bias).", terms)  # not the first
    assert first_use_problems("The [L-bias](gloss-l-share).", terms)  # the wrong label
    assert not first_use_problems("The **[L-bias](gloss-l-bias)**; the L-bias again.", terms)
    # exempt: a heading, code, math, another link's text, a target; then the first real use
    exempt = ("## The L-bias\n\n`L-bias` and $L-bias$ and [L-bias](https://x) and\n(gloss-l-bias)=\n"
              "then the [L-bias](gloss-l-bias).")
    assert not first_use_problems(exempt, terms)
    assert first_use_problems(exempt.replace("[L-bias](gloss-l-bias)", "L-bias"), terms)
    # a label inside a link target is no use of the term
    assert first_use(("[the bias](gloss-l-bias)"), TERMS["gloss-l-bias"]) is None


def test_broken_link_and_typed_number_are_caught():
    assert linked_labels("see [rho](gloss-nowhere) and [L-bias](gloss-l-bias)") == {"gloss-nowhere", "gloss-l-bias"}
    assert labels_in("(gloss-a)=\n### A\n\n(gloss-b)=\n### B\n") == ["gloss-a", "gloss-b"]
    assert typed_numbers("accuracy 91.6% and 87 % and an L-bias of 0.73") == ["91.6%", "87 %", "0.73"]
    assert typed_numbers("0.5: no preference; `tol=1e-5`, `0.25`; Table 2, page 03") == []
