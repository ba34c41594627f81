#!/usr/bin/env python3
"""Prints every failed test of the .trx files given, with the start of its message and stack trace.

build.sh prints this just above the totals line, so the end of a CI log says which tests failed and why.
"""
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
MAX_LINES = 25


def main(paths):
    failures = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as error:
            print(f"  {path}: unreadable ({error})")
            continue
        run = path.rsplit("/", 1)[-1].removesuffix(".trx")
        for result in root.iterfind(".//t:UnitTestResult", NS):
            if result.get("outcome") != "Failed":
                continue
            failures += 1
            print(f"\nFAILED [{run}] {result.get('testName')} ({result.get('duration')})")
            text = []
            for tag in ("Message", "StackTrace"):
                node = result.find(f".//t:ErrorInfo/t:{tag}", NS)
                if node is not None and node.text:
                    text.extend(node.text.strip().splitlines())
            for line in text[:MAX_LINES]:
                print(f"    {line}")
            if len(text) > MAX_LINES:
                print(f"    ... ({len(text) - MAX_LINES} more lines in {path})")
    if failures:
        print(f"\n{failures} failed test(s) listed above.")


if __name__ == "__main__":
    main(sys.argv[1:])
