#!/usr/bin/env python3
# Writes docs/reliability.md from the tests: one line per test, its claim (the first
# sentence of its doc comment, or its name) and its name. Run from the repository root;
# tests/docs.rs fails when the page and the tests are out of step.
import re,glob
out=["# Reliability: each claim and its test","",
"Every promise is a test that talks HTTP to the emulator on loopback, writes real",
"sled files and, where it says so, SIGKILLs a real daemon. Each line is a claim,",
"then its test; the test's assertions give the exact counts. `cargo test` runs",
"them all; those marked *soak* are `#[ignore]` long versions (`cargo test --",
"--ignored`), each with a short version that always runs. `tests/docs.rs` keeps",
"this page and the test files in step: a test missing here, or listed here and",
"gone, fails it.",""]
for f in sorted(glob.glob('tests/*.rs')):
    src=open(f).read()
    doc=[l[3:].strip() for l in src.split('\n') if l.startswith('//!')]
    first=' '.join(doc).split('. ')[0].rstrip('.') if doc else ''
    tests=[]
    lines=src.split('\n')
    for i,l in enumerate(lines):
        m=re.match(r'\s*(?:pub )?(?:async )?fn (\w+)\s*\(',l)
        if not m: continue
        attrs=[];docs=[]
        j=i-1
        while j>=0 and (lines[j].strip().startswith('#[') or lines[j].strip().startswith('//')):
            t=lines[j].strip()
            if t.startswith('///'): docs.insert(0,t[3:].strip())
            attrs.append(t); j-=1
        if not any(a.startswith('#[test') or a.startswith('#[tokio::test') for a in attrs): continue
        ign=any(a.startswith('#[ignore') for a in attrs)
        d=' '.join(docs)
        claim=''
        if d:
            claim=re.split(r'(?<=[a-z0-9)`"])\. ',d)[0].rstrip('.')
            if len(claim)>260: claim=''
        if not claim:
            claim=m.group(1).replace('_',' ')
        claim=claim[0].upper()+claim[1:]
        tests.append((m.group(1),ign,claim))
    if not tests: continue
    out.append(f"## `{f}`")
    out.append("")
    if first: out.append(first+"."); out.append("")
    for name,ign,claim in tests:
        out.append(f"- {claim}{' (*soak*)' if ign else ''}: `{name}`")
    out.append("")
open('docs/reliability.md','w').write('\n'.join(out))
