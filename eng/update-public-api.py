#!/usr/bin/env python3
"""Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to PublicAPI.Unshipped.txt.

Run after adding public API on purpose: `python3 eng/update-public-api.py src/PipelineServer.Protocols`.
Review the diff: each new line is a public API commitment.
"""
import pathlib, re, subprocess, sys

for project_dir in sys.argv[1:] or [str(p.parent) for p in pathlib.Path("src").glob("*/*.csproj")]:
    project = pathlib.Path(project_dir)
    unshipped = project / "PublicAPI.Unshipped.txt"
    shipped = project / "PublicAPI.Shipped.txt"
    for f in (unshipped, shipped):
        if not f.exists() or not f.read_text().startswith("#nullable enable"):
            f.write_text("#nullable enable\n" + (f.read_text() if f.exists() else ""))
    out = subprocess.run(["dotnet", "build", str(project), "--no-incremental", "-v", "q"], capture_output=True, text=True).stdout
    symbols = set(re.findall(r"RS0016: Symbol '(.+?)' is not part of the declared public API", out))
    # Removed API (RS0017) is dropped from the unshipped list.
    removed = set(re.findall(r"RS0017: Symbol '(.+?)' is part of the declared API, but is either not public or could not be found", out))
    lines = [l for l in unshipped.read_text().splitlines()[1:] if l and l not in removed]
    lines = sorted(set(lines) | symbols)
    unshipped.write_text("#nullable enable\n" + "".join(l + "\n" for l in lines))
    print(f"{project}: +{len(symbols)} -{len(removed)}")
