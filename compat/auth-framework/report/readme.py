#!/usr/bin/env python3
"""Writes reports/auth-framework-0.6.0-rc202/README.md from the committed per-backend
reports: header.md, the tables classify.py prints, and each class's text from
classes_text.py (what their code does, what their docs say, the reproduction).

    python3 compat/auth-framework/report/readme.py
"""
import os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "..", "..", ".."))
reports = os.path.join(repo, "reports", "auth-framework-0.6.0-rc202")
sys.path.insert(0, here)
from classes_text import EXTRA  # noqa: E402

out = subprocess.run([sys.executable, os.path.join(here, "classify.py"), reports],
                     capture_output=True, text=True, check=True).stdout
table, _, rest = out.partition("\n\n")
contract, defect, unresolved = [], [], []
for block in rest.split("#### ")[1:]:
    head, _, body = block.partition("\n")
    cls = head.split(" ")[0]
    text = f"#### {head}\n\n{EXTRA[cls]}\n\n{body.strip()}\n"
    {"C": contract, "D": defect, "U": unresolved}[cls[0]].append(text)
doc = (open(os.path.join(here, "header.md")).read() + table.strip()
       + "\n\n## Contract differences\n\nWhere their documented contract differs from SPEC.md; "
       "their backends do what they say.\n\n" + "\n".join(contract)
       + "\n## Defects\n\nWhere their backends break their own contract or evident intent. Each "
       "has a reproduction against their API in "
       "[`tests/reproductions.rs`](../../compat/auth-framework/tests/reproductions.rs) (run in CI "
       "by `ci/check-compat`); the snippets below are those tests, shortened "
       "(`token(id, user, access)` builds an hour-long `AuthToken`).\n\n" + "\n".join(defect)
       + "\n## Unresolved\n\nSeen in other runs than the published one; kept so that a rerun "
       "names them.\n\n" + "\n".join(unresolved))
open(os.path.join(reports, "README.md"), "w").write(doc)
