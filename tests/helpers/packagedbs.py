"""Package databases written by the real package managers, with the managers' own listings as truth.

Issue 25's parsers (registry_explorer/inventory) are checked row for row against these. Each function
returns a `FixtureTree`: the image-layer files (`.files`, `.write(dir)`, `.tar_bytes()`), the paths a
parser reads (`.databases`) and the truth rows (`.truth`: ecosystem, name, version, architecture) that
the package manager itself printed for those very files (`.sources` / `.licenses` where it says more).

| function | written by | truth from | cold / cached |
| --- | --- | --- | --- |
| dpkg_minbase, dpkg_removed, dpkg_status_d, dpkg_states | mmdebstrap --variant=minbase, dpkg --root -r / --set-selections, dpkg-deb --field | dpkg-query -W --admindir, dpkg-deb --show | ~20 s / ~50 ms |
| rpm_sqlite | rpmbuild, rpm -i --justdb --nodeps, rpm --import | rpm -qa --dbpath | ~2 s / ~30 ms |
| rpm_legacy_headers | this module, from the formats' documentation (Debian's rpm writes only sqlite) | - | instant |
| python_site | pip wheel + pip install --target, setup.py install (egg-info), distutils | pip list --path | ~15 s (fetches setuptools once) / ~0.5 s |
| npm_tree | npm pack + npm install --offline | npm ls --all --json | ~3 s / ~10 ms |
| java_jars | zipfile, in Maven's / Spring Boot's layout | what was written | instant |
| apk_installed | this module, from the Alpine wiki's "Apk spec" (apk is not packaged for Debian) | what was written | instant |

Slow ones are cached between sessions under ``$TMPDIR/rx-test-pkgdbs-<uid>/`` (`RX_PKGDBS_DIR`); a missing
program raises `ToolMissing` (tests skip, or fail under CI).
"""

from .packagedbs_common import FixtureTree, ToolMissing, TruthRow, cache_root  # noqa: F401
from .packagedbs_debian import dpkg_minbase, dpkg_removed, dpkg_states, dpkg_status_d  # noqa: F401
from .packagedbs_lang import apk_installed, java_jars, npm_tree, python_site  # noqa: F401
from .packagedbs_rpm import rpm_legacy_headers, rpm_sqlite  # noqa: F401
