"""README.md and docs/*.md stay true to the code: code blocks compile or parse, command lines name real
subcommands, relative links (and their #anchors) point at files and headings that exist."""

import argparse
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
# written by others; linked before it exists is fine, a link to it is checked once it is there
MAY_BE_ABSENT = {os.path.join(DOCS, "blind-sr.md")}


def doc_files():
    files = [os.path.join(ROOT, "README.md")]
    if os.path.isdir(DOCS):
        files += sorted(os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))
    return files


def rel(path):
    return os.path.relpath(path, ROOT)


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^\n]*$")


def code_blocks(path):
    """(language, first line number, source) of every fenced block."""
    blocks, lang, start, fence, lines = [], None, 0, None, []
    with open(path, encoding="utf-8") as f:
        text = f.read().split("\n")
    for n, line in enumerate(text, 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence, lang, start, lines = m.group(2), m.group(3).lower(), n + 1, []
        elif line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            blocks.append((lang, start, "\n".join(lines)))
            fence = None
        else:
            lines.append(line)
    assert fence is None, f"{rel(path)}: a code block opened at line {start - 1} is never closed"
    return blocks


def prose(path):
    """The text outside code blocks and inline code spans, for links."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"^(\s*)(`{3,}|~{3,}).*?^\1\2\s*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def all_blocks(lang):
    out = []
    for path in doc_files():
        for language, line, src in code_blocks(path):
            if language == lang:
                out.append(pytest.param(path, line, src, id=f"{rel(path)}:{line}"))
    return out


def test_the_docs_exist_and_have_code():
    names = [rel(p) for p in doc_files()]
    for page in ("README.md", "docs/degradation.md", "docs/batched-backend.md", "docs/models.md", "docs/training.md",
                 "docs/evaluation.md", "docs/benchmarks.md", "docs/design.md", "docs/development.md", "docs/faults.md"):
        assert page in names, f"{page} is missing"
    assert all_blocks("python") and all_blocks("yaml") and all_blocks("bash")


@pytest.mark.parametrize("path,line,src", all_blocks("python"))
def test_python_blocks_compile(path, line, src):
    compile(src, f"{rel(path)}:{line}", "exec")


@pytest.mark.parametrize("path,line,src", all_blocks("yaml"))
def test_yaml_blocks_parse(path, line, src):
    try:
        yaml.safe_load(src)
    except yaml.YAMLError as e:
        pytest.fail(f"{rel(path)}: the yaml block at line {line} does not parse: {e}")


def subcommands():
    from lightsr.cli import build_parser

    names = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return names


@pytest.mark.parametrize("path,line,src", all_blocks("bash"))
def test_bash_lines_name_real_subcommands(path, line, src):
    known = subcommands()
    assert {"degrade", "train", "upscale", "eval", "demo"} <= known
    for k, text in enumerate(src.split("\n")):
        text = text.strip()
        if not text.startswith("lightsr "):
            continue
        word = text.split()[1]
        assert word in known, f"{rel(path)}:{line + k}: 'lightsr {word}' is not a subcommand of lightsr (known: {sorted(known)})"


def slug(heading):
    """GitHub's anchor for a heading."""
    s = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    text = prose(path)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links():
    out = []
    for path in doc_files():
        for m in LINK.finditer(prose(path)):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith("//"):
                continue  # http:, https:, mailto:
            out.append(pytest.param(path, target, id=f"{rel(path)}->{target}"))
    return out


@pytest.mark.parametrize("path,target", relative_links())
def test_relative_links_point_at_existing_files(path, target):
    file_part, _, anchor = target.partition("#")
    dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
    if dest in MAY_BE_ABSENT and not os.path.exists(dest):
        pytest.skip(f"{rel(dest)} is written elsewhere and not there yet")
    assert os.path.exists(dest), f"{rel(path)}: the link ({target}) points at {rel(dest)}, which does not exist"
    if anchor and dest.endswith(".md"):
        assert anchor in anchors(dest), f"{rel(path)}: the link ({target}) names a heading {rel(dest)} does not have"


def test_readme_is_short_and_keeps_the_two_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert len(text.split("\n")) <= 200
    first_bash = next(src for lang, _, src in code_blocks(os.path.join(ROOT, "README.md")) if lang == "bash")
    assert "pip install -e . && lightsr demo --out lightsr-demo" in first_bash.split("\n")
    assert 'pip install -e ".[test]" && python -m pytest -q tests' in first_bash.split("\n")
    for page in doc_files()[1:]:
        assert f"](docs/{os.path.basename(page)})" in text, f"README.md does not link docs/{os.path.basename(page)}"
    assert "](docs/blind-sr.md)" in text


def test_the_model_table_lists_the_registered_models():
    """docs/models.md pastes `lightsr models --format md`: when the zoo changes, paste it again."""
    from lightsr.models import list_models

    with open(os.path.join(DOCS, "models.md"), encoding="utf-8") as f:
        rows = {line.split("|")[1].strip() for line in f if line.startswith("| ")}
    missing = sorted(m.name for m in list_models() if m.name not in rows)
    assert not missing, f"docs/models.md has no row for {missing}: rerun `lightsr models --format md` and paste its output"
