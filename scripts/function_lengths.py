#!/usr/bin/env python3
"""Lists C++ functions longer than a limit (default 120 lines, STYLE.md 7) in the given trees.

Reads clang-formatted sources: a function definition opens with a line ending in '{' whose
head has a parameter list and is not a control statement, class or namespace, and closes with
'}' at the indentation it opened at. Lambdas and local classes count toward the function that
holds them. Exit status 1 when any function is over the limit.
"""
import pathlib
import re
import sys

NOT_FUNCTION = re.compile(
    r"^\s*(if|for|while|switch|else|do|try|catch|namespace|class|struct|union|enum|return|"
    r"case|default)\b|=\s*(\[.*\]\s*\(|\{)|^\s*\[|\]\s*\(.*\)\s*(mutable\s*)?(->.*)?\{$")


def continues_head(line):
    """Whether a line before a '{' line belongs to the same declaration head."""
    text = line.strip()
    if not text or text.startswith(("//", "#", "/*", "*")):
        return False
    return not text.endswith((";", "{", "}", "public:", "private:", "protected:"))


def function_spans(lines):
    """Yields (first line, line count, head) of each outermost function definition."""
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.rstrip()
        if stripped.endswith("{") and not stripped.lstrip().startswith(("//", "#")):
            # The head may span several lines: walk back to the line that starts it.
            start = index
            while start > 0 and continues_head(lines[start - 1]):
                start -= 1
            head = " ".join(l.strip() for l in lines[start:index + 1])
            indent = len(lines[start]) - len(lines[start].lstrip())
            if "(" in head and not NOT_FUNCTION.search(head) and ";" not in head.split("(")[0]:
                close = " " * indent + "}"
                end = index + 1
                while end < len(lines) and lines[end].rstrip() != close:
                    end += 1
                if end < len(lines):
                    yield start + 1, end - start + 1, head
                    index = end + 1
                    continue
        index += 1


def main(argv):
    limit = 120
    roots = []
    for arg in argv[1:]:
        if arg.startswith("--max="):
            limit = int(arg[len("--max="):])
        else:
            roots.append(arg)
    over = 0
    for root in roots:
        for path in sorted(pathlib.Path(root).rglob("*")):
            if path.suffix not in (".cc", ".h"):
                continue
            lines = path.read_text(encoding="utf-8").split("\n")
            for first, count, head in function_spans(lines):
                if count > limit:
                    over += 1
                    print(f"{path}:{first}: {count} lines: {head[:80]}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
