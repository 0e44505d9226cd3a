#!/usr/bin/env python3
"""Regenerates the fuzz seed corpus in corpus/<target>/ (see corpus/README.md).

Every seed is made by the project: hand-written edge cases below, synthetic CPUID dumps built
from the project's embedded map (data/cpu_map/x86.xml), and CPUs that the project's own
`cpufleet decode` / `cpufleet fmt` write from those dumps. Nothing is copied from ../shared.

Usage: python3 corpus/make_seeds.py [PATH_TO_CPUFLEET_BINARY]   (default: target/debug/cpufleet)
Deterministic: the same map and binary give the same files.
"""

import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "corpus")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "cpufleet")
TARGETS = ["cpu_xml_parse", "cpu_xml_roundtrip", "cpuid_data_parse", "capabilities_parse", "cpu_map_parse", "baseline_laws",
           "host_scanner"]


def write(target, name, content):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cpufleet(*args, stdin=None):
    r = subprocess.run([BIN, *args], capture_output=True, input=stdin)
    if r.returncode != 0:
        raise SystemExit(f"cpufleet {' '.join(args)} failed: {r.stderr.decode()}")
    return r.stdout.decode()


# ----------------------------------------------------------------------------- the map
tree = ET.parse(os.path.join(ROOT, "data", "cpu_map", "x86.xml"))
arch = tree.getroot().find("arch")
vendors = {v.get("name"): v.get("string") for v in arch.findall("vendor")}
features = {}
for f in arch.findall("feature"):
    items = []
    for c in f:
        if c.tag == "cpuid":
            items.append(("cpuid", int(c.get("eax_in"), 0), int(c.get("ecx_in", "0"), 0),
                          [int(c.get(r, "0"), 0) for r in ("eax", "ebx", "ecx", "edx")]))
        elif c.tag == "msr":
            items.append(("msr", int(c.get("index"), 0), 0, [int(c.get("eax"), 0), 0, 0, int(c.get("edx"), 0)]))
    features[f.get("name")] = items
models = {}
for m in arch.findall("model"):
    vendor = m.find("vendor")
    sig = m.find("signature")
    models[m.get("name")] = {
        "vendor": vendor.get("name") if vendor is not None else None,
        "sig": (int(sig.get("family")), int(sig.get("model"))) if sig is not None else None,
        "features": [f.get("name") for f in m.findall("feature") if f.get("removed") != "yes"],
    }


def vendor_regs(s):
    b = s.encode()
    word = lambda i: int.from_bytes(b[i:i + 4], "little")
    return [0, word(0), word(8), word(4)]


def make_signature(family, model, stepping):
    sig = (((family - 15) & 0xFF) << 20 | 0xF << 8) if family > 15 else (family & 0xF) << 8
    return sig | ((model >> 4) & 0xF) << 16 | (model & 0xF) << 4 | (stepping & 0xF)


def dump(feature_names, vendor=None, sig=0):
    data = {}
    def add(kind, a, b, regs):
        cur = data.setdefault((kind, a, b), [0, 0, 0, 0])
        for i in range(4):
            cur[i] |= regs[i]
    if vendor:
        add("cpuid", 0, 0, vendor_regs(vendors[vendor]))
    if sig:
        add("cpuid", 1, 0, [sig, 0, 0, 0])
    for n in feature_names:
        for kind, a, b, regs in features[n]:
            add(kind, a, b, regs)
    out = ["<cpudata arch='x86'>"]
    for (kind, a, b), r in sorted(data.items()):
        if kind == "cpuid":
            out.append(f"  <cpuid eax_in='0x{a:08x}' ecx_in='0x{b:02x}' eax='0x{r[0]:08x}' ebx='0x{r[1]:08x}' "
                       f"ecx='0x{r[2]:08x}' edx='0x{r[3]:08x}'/>")
        else:
            out.append(f"  <msr index='0x{a:x}' edx='0x{r[3]:08x}' eax='0x{r[0]:08x}'/>")
    out.append("</cpudata>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- CPUID dumps
rng = random.Random(20230116)
chosen = ["486", "qemu64", "Conroe", "Nehalem", "SandyBridge", "Haswell", "Broadwell-noTSX", "Skylake-Client",
          "Skylake-Server-IBRS", "Cascadelake-Server", "Icelake-Server", "Cooperlake", "Snowridge", "Opteron_G3",
          "EPYC", "EPYC-Rome", "EPYC-Milan", "Dhyana"]
all_names = list(features)
dumps = {}
for name in chosen:
    m = models[name]
    extra = rng.sample(all_names, 4)
    fam, mod = m["sig"] or (6, 0)
    stepping = rng.randrange(16)
    vendor = m["vendor"] or rng.choice(sorted(vendors))
    dumps[name] = dump(m["features"] + extra, vendor, make_signature(fam, mod, stepping))
# TSX-filter edge: an Intel Haswell signature (family 6 model 63 stepping 2) with hle/rtm present.
dumps["Haswell-tsx-filter"] = dump(models["Haswell"]["features"], "Intel", make_signature(6, 63, 2))
dumps["vendorless-no-signature"] = dump(models["qemu64"]["features"])
dumps["empty"] = "<cpudata arch='x86'/>\n"
dumps["msr-and-merge"] = ("<cpudata arch='x86'>\n  <cpuid eax_in='1' ecx='0x1'/>\n  <cpuid eax_in='0x1' ecx='0x2'/>\n"
                          "  <cpuid eax_in='07' ecx_in='0' ebx='0xffffffff'/>\n"
                          "  <msr index='0x10a' eax='0xffffffff' edx='0'/>\n  <msr index='0x48b' eax='0' edx='0x1'/>\n"
                          "</cpudata>\n")
dumps["this-host"] = cpufleet("host", "--dump")
for name, text in dumps.items():
    write("cpuid_data_parse", f"{name}.xml", text)

# ----------------------------------------------------------------------------- CPUs written by cpufleet
tmp = os.path.join(CORPUS, ".tmp-dump.xml")
hosts, guests = {}, {}
for name, text in dumps.items():
    with open(tmp, "w") as f:
        f.write(text)
    try:
        hosts[name] = cpufleet("decode", tmp)
    except SystemExit:
        pass  # no model fits (e.g. the empty dump): not a CPU seed
    try:
        guests[name] = cpufleet("decode", "--guest", tmp)
    except SystemExit:
        pass
os.remove(tmp)

HAND = {
    "guest-custom-exact": "<cpu mode='custom' match='exact' check='partial'>\n  <model fallback='forbid'>Haswell</model>\n"
                          "  <vendor>Intel</vendor>\n  <topology sockets='2' dies='1' cores='4' threads='2'/>\n"
                          "  <feature policy='require' name='vmx'/>\n  <feature policy='optional' name='pdpe1gb'/>\n"
                          "  <feature policy='disable' name='hle'/>\n  <feature policy='forbid' name='rtm'/>\n"
                          "  <feature policy='force' name='x2apic'/>\n</cpu>\n",
    "guest-strict-vendor-id": "<cpu match='strict'>\n  <model vendor_id='Genuine&apos;Int'>EPYC</model>\n"
                              "  <feature name='svm'/>\n</cpu>\n",
    "guest-minimum": "<cpu match='minimum'><model>Nehalem</model><feature policy='optional' name='aes'/></cpu>",
    "guest-host-model": "<cpu mode='host-model' check='none'>\n  <model fallback='allow'/>\n"
                        "  <feature policy='disable' name='vmx'/>\n</cpu>\n",
    "guest-host-model-ppc64-compat": "<cpu mode='host-model'>\n  <model>power8</model>\n</cpu>\n",
    "guest-passthrough": "<cpu mode='host-passthrough' check='none' migratable='on'>\n"
                         "  <cache mode='passthrough'/>\n  <maxphysaddr mode='passthrough' bits='42'/>\n</cpu>\n",
    "guest-maximum": "<cpu mode='maximum' migratable='off'/>\n",
    "guest-empty": "<cpu/>\n",
    "guest-check-only": "<cpu check='full'/>\n",
    "guest-vendor-id-only": "<cpu>\n  <model vendor_id='AuthenticAMD'/>\n</cpu>\n",
    "guest-cache-level": "<cpu><model>qemu64</model><cache level='3' mode='emulate'/></cpu>",
    "host-full": "<cpu>\n  <arch>x86_64</arch>\n  <model>Skylake-Client-IBRS</model>\n  <vendor>Intel</vendor>\n"
                 "  <microcode version='240'/>\n  <signature family='6' model='94' stepping='3'/>\n"
                 "  <counter name='tsc' frequency='3408000000' scaling='no'/>\n"
                 "  <topology sockets='1' dies='1' cores='4' threads='2'/>\n  <pages unit='KiB' size='4'/>\n"
                 "  <feature name='ds'/>\n  <feature name='acpi'/>\n  <feature name='invtsc'/>\n</cpu>\n",
    "host-ppc64": "<cpu>\n  <arch>ppc64le</arch>\n  <model>POWER9</model>\n  <vendor>IBM</vendor>\n"
                  "  <topology sockets='1' cores='4' threads='8'/>\n</cpu>\n",
    "host-ppc64-legacy": "<cpu><arch>ppc64</arch><model>POWER7_v2.1</model><vendor>IBM</vendor></cpu>",
    "escapes-cdata-comments": "<?xml version='1.0' encoding='UTF-8'?>\n<!-- a comment -->\n<?pi data?>\n"
                              "<cpu match=\"exact\">\n  <model><![CDATA[Has]]>well<!-- x --></model>\n"
                              "  <feature policy='require' name='&#x73;se&amp;'/>\n  <feature name='a&lt;b&gt;c&quot;'/>\n"
                              "</cpu>\n",
    "unknown-elements": "<cpu><model>Haswell</model><numa><cell id='0' cpus='0-3' memory='1024'/></numa>"
                        "<unknown attr='x'>text<deeper/></unknown></cpu>",
    "topology-edges": "<cpu><model>Haswell</model><topology sockets='4294967295' dies='0' cores='1' threads='1'/></cpu>",
    "signature-zero-family": "<cpu><arch>x86_64</arch><model>qemu64</model><signature family='0' model='0'/></cpu>",
    "non-ascii-names": "<cpu><model>Modèle-α</model><vendor>Ünknown</vendor><feature name='ﬁ'/></cpu>",
    "dtd": "<!DOCTYPE cpu [<!ENTITY a 'b'>]>\n<cpu><model>&a;</model></cpu>\n",
    "truncated": "<cpu mode='custom'>\n  <model>Hasw",
    "duplicate-feature": "<cpu><model>Haswell</model><feature name='sse'/><feature name='sse'/></cpu>",
}
for name, text in HAND.items():
    write("cpu_xml_parse", f"{name}.xml", text)
    if not name.startswith(("dtd", "truncated", "duplicate")):
        write("cpu_xml_roundtrip", f"{name}.xml", text)
for name, text in hosts.items():
    write("cpu_xml_parse", f"decoded-host-{name}.xml", text)
    write("cpu_xml_roundtrip", f"decoded-host-{name}.xml", text)
for name, text in guests.items():
    write("cpu_xml_roundtrip", f"decoded-guest-{name}.xml", text)

# ----------------------------------------------------------------------------- host_scanner
# One host <cpu> element each, from its `<` to the end of its `</cpu>` (what the streaming
# baseline hands the scanner): the decoded hosts, and hand-written edges of the scanner's plain
# path (quotes, empty vendor, every element it understands, comments and references it must
# refuse to vouch for, unknown names).
HOST_SCANNER = {
    "double-quotes": '<cpu>\n  <arch>x86_64</arch>\n  <model fallback="forbid">Haswell</model>\n'
                     '  <vendor>Intel</vendor>\n  <feature name="vmx"/>\n  <feature policy="require" name="pdpe1gb"/>\n</cpu>',
    "empty-vendor": "<cpu><arch>x86_64</arch><model>qemu64</model><vendor></vendor><feature name='sse4.1'/></cpu>",
    "all-elements": "<cpu>\n  <arch>x86_64</arch>\n  <model>Skylake-Client-IBRS</model>\n  <vendor>Intel</vendor>\n"
                    "  <microcode version='240'/>\n  <signature family='6' model='94' stepping='3'/>\n"
                    "  <counter name='tsc' frequency='3408000000' scaling='no'/>\n"
                    "  <topology sockets='1' dies='1' cores='4' threads='2'/>\n  <cache level='3' mode='emulate'/>\n"
                    "  <maxphysaddr mode='passthrough' limit='39'/>\n  <feature name='invtsc'/>\n</cpu>",
    "comment-and-reference": "<cpu><arch>x86_64</arch><!-- c --><model>Haswell</model><feature name='&#x73;se'/></cpu>",
    "unknown-feature": "<cpu><arch>x86_64</arch><model>Haswell</model><feature name='no-such-feature'/></cpu>",
    "unknown-model": "<cpu><arch>x86_64</arch><model>No-Such-Model</model><vendor>Intel</vendor></cpu>",
    "ppc64": "<cpu><arch>ppc64le</arch><model>POWER9</model><vendor>IBM</vendor></cpu>",
    "no-arch": "<cpu><model>EPYC</model><vendor>AMD</vendor><feature name='svm'/></cpu>",
}
for name, text in HOST_SCANNER.items():
    write("host_scanner", f"{name}.xml", text)
for name, text in hosts.items():
    write("host_scanner", f"decoded-{name}.xml", text.strip())

# ----------------------------------------------------------------------------- whole documents
def indent(text, n):
    return "".join(" " * n + line + "\n" for line in text.splitlines())


intel = [hosts[n] for n in ("Nehalem", "SandyBridge", "Haswell", "Skylake-Client", "Icelake-Server") if n in hosts]
amd = [hosts[n] for n in ("Opteron_G3", "EPYC", "EPYC-Rome", "EPYC-Milan") if n in hosts]
docs = {
    "cputest-intel": "<cpuTest>\n" + "".join(indent(h, 2) for h in intel) + "</cpuTest>\n",
    "cputest-amd": "<cpuTest>\n" + "".join(indent(h, 2) for h in amd) + "</cpuTest>\n",
    "cputest-mixed-vendors": "<cpuTest>\n" + indent(intel[0], 2) + indent(amd[0], 2) + "</cpuTest>\n",
    "bare-cpus": "".join(intel[:3]),
    "capabilities": "<capabilities>\n  <host>\n    <uuid>00000000-0000-0000-0000-000000000000</uuid>\n"
                    + indent(hosts["this-host"], 4) + "    <power_management/>\n  </host>\n"
                    "  <guest>\n    <os_type>hvm</os_type>\n  </guest>\n</capabilities>\n",
    "domcapabilities": "<domainCapabilities>\n  <path>/usr/bin/qemu-system-x86_64</path>\n  <cpu>\n"
                       "    <mode name='host-passthrough' supported='yes'/>\n"
                       "    <mode name='host-model' supported='yes'>\n      <model fallback='forbid'>Skylake-Client-IBRS</model>\n"
                       "      <vendor>Intel</vendor>\n      <feature policy='require' name='ss'/>\n"
                       "      <feature policy='disable' name='hle'/>\n    </mode>\n"
                       "    <mode name='custom' supported='yes'>\n      <model usable='yes'>qemu64</model>\n"
                       "      <model usable='no' deprecated='yes'>Haswell</model>\n      <model usable='unknown'>EPYC</model>\n"
                       "      <model>Nehalem</model>\n    </mode>\n  </cpu>\n</domainCapabilities>\n",
    "domain": "<domain type='kvm'>\n  <name>vm1</name>\n  <memory unit='KiB'>1048576</memory>\n"
              + indent(guests.get("Haswell", HAND["guest-custom-exact"]), 2) + "</domain>\n",
    "cputest-ppc64": "<cpuTest>\n  <cpu><arch>ppc64</arch><model>POWER8</model><vendor>IBM</vendor></cpu>\n"
                     "  <cpu><arch>ppc64</arch><model>POWER8</model></cpu>\n</cpuTest>\n",
    "cputest-guests": "<cpuTest>\n" + indent(HAND["guest-custom-exact"], 2) + indent(HAND["guest-minimum"], 2) + "</cpuTest>\n",
}
for name, text in docs.items():
    write("capabilities_parse", f"{name}.xml", text)
    write("cpu_xml_parse", f"doc-{name}.xml", text)

# ----------------------------------------------------------------------------- CPU maps
# Input format of the cpu_map_parse target: index.xml, then NUL-separated "NAME\nCONTENT" files.
with open(os.path.join(ROOT, "data", "cpu_map", "ppc64.xml")) as f:
    write("cpu_map_parse", "embedded-ppc64.xml", f.read())
small_features = ["fpu", "vme", "de", "pse", "tsc", "msr", "sse", "sse2", "pni", "ssse3", "lm", "nx", "svm", "vmx",
                  "xsaves", "invtsc", "arch-capabilities", "mds-no", "monitor", "hle", "rtm"]
def feature_xml(n):
    out = [f"    <feature name='{n}'{' migratable=' + repr('no') if n in ('xsaves', 'invtsc') else ''}>"]
    for kind, a, b, r in features[n]:
        if kind == "cpuid":
            regs = "".join(f" {k}='0x{v:08x}'" for k, v in zip(("eax", "ebx", "ecx", "edx"), r) if v)
            sub = f" ecx_in='0x{b:08x}'" if b else ""
            out.append(f"      <cpuid eax_in='0x{a:08x}'{sub}{regs}/>")
        else:
            out.append(f"      <msr index='0x{a:08x}' edx='0x{r[3]:08x}' eax='0x{r[0]:08x}'/>")
    out.append("    </feature>")
    return "\n".join(out)
vendors_xml = "\n".join(f"    <vendor name='{n}' string='{s}'/>" for n, s in vendors.items())
feats_xml = "\n".join(feature_xml(n) for n in small_features)
models_xml = """    <model name='base'>
      <decode host='on' guest='on'/>
      <signature family='6' model='2' stepping='0-4,9'/>
      <feature name='fpu'/>
      <feature name='sse'/>
    </model>
    <model name='child'>
      <decode host='on' guest='off'/>
      <model name='base'/>
      <vendor name='Intel'/>
      <feature name='vmx'/>
      <feature name='monitor' removed='yes'/>
    </model>"""
write("cpu_map_parse", "self-contained-x86.xml",
      f"<cpus>\n  <arch name='x86'>\n{vendors_xml}\n{feats_xml}\n{models_xml}\n  </arch>\n</cpus>\n")
index = ("<cpus>\n  <arch name='x86'>\n    <include filename='x86_vendors.xml'/>\n"
         "    <include filename='x86_features.xml'/>\n    <include filename='x86_base.xml'/>\n  </arch>\n"
         "  <arch name='ppc64'>\n    <include filename='ppc64_vendors.xml'/>\n    <include filename='ppc64_POWER9.xml'/>\n"
         "  </arch>\n  <arch name='arm'>\n    <include filename='arm_features.xml'/>\n  </arch>\n</cpus>\n")
files = [
    ("x86_vendors.xml", f"<cpus>\n{vendors_xml}\n</cpus>\n"),
    ("x86_features.xml", f"<cpus>\n{feats_xml}\n</cpus>\n"),
    ("x86_base.xml", f"<cpus>\n{models_xml}\n</cpus>\n"),
    ("ppc64_vendors.xml", "<cpus>\n  <vendor name='IBM'/>\n</cpus>\n"),
    ("ppc64_POWER9.xml", "<cpus>\n  <model name='POWER9'>\n    <vendor name='IBM'/>\n"
                         "    <pvr value='0x004e0000' mask='0xffff0000'/>\n  </model>\n</cpus>\n"),
]
write("cpu_map_parse", "index-with-includes.bin", index + "".join(f"\0{n}\n{c}" for n, c in files))
write("cpu_map_parse", "missing-include.bin", index + f"\0x86_vendors.xml\n{files[0][1]}")

# ----------------------------------------------------------------------------- baseline_laws
# Structured input decoded by `arbitrary`: any bytes are valid; seeds of several lengths.
for i, n in enumerate([16, 48, 96, 160, 256, 400, 640, 1024]):
    r = random.Random(1000 + i)
    write("baseline_laws", f"pool-{i}.bin", bytes(r.randrange(256) for _ in range(n)))

print("seeds:", {t: len(os.listdir(os.path.join(CORPUS, t))) for t in TARGETS})
