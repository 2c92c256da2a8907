"""3.1 백업, proven restorable: the restore drill (opt-in: `-m restore_drill` or `--restore-drill`).
The newest full backup and its incrementals are restored into a scratch container and compared with
the checksums and row counts the backup job recorded; the time to restore (RTO) and the throughput
are reported. See plancheck/facts/restore_drill.py for the isolation guarantees."""
from __future__ import annotations

import pytest

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.restore_drill import RestoreDrillFacts
from plancheck.profile.models import Profile

BK = "3.1 MariaDB 설정 (backup)"


@pytest.mark.restore_drill
@control("BK-010", title="The newest backup restores and matches its manifest (restore drill)", severity="critical",
         section=BK, rationale="Only a restored backup proves the chain, the encryption key and the manifests "
         "work together; the drill measures the time to restore (RTO).",
         remediation="Read the failing step: a payload that does not match its manifest is corrupt (take a new "
         "full backup); a prepare or start failure points at the chain or the keys.",
         reads=("backup.restore_drill",))
def test_restore_drill(check: Check, restore_drill_facts: RestoreDrillFacts, profile: Profile,
                       record_property) -> None:  # type: ignore[no-untyped-def]
    d = restore_drill_facts
    rate = f"{d.bytes_per_s / 1e6:.2f} MB/s" if d.bytes_per_s else "n/a"
    record_property("rto_s", d.rto_s)
    record_property("bytes_per_s", d.bytes_per_s)
    check.that(not d.error and d.rto_s is not None, what="drill",
               expected="restore of the newest full + incrementals",
               found=f"{d.backup} + {len(d.members) - 1} incremental(s), {d.payload_bytes} bytes, "
                     f"RTO {d.rto_s if d.rto_s is not None else 'n/a'} s, {rate}" + (f": {d.error}" if d.error else ""))
    check.that(d.cleaned_up, expected="scratch container, volume and network removed",
               found="removed" if d.cleaned_up else (", ".join(d.leftovers) or "not removed"), what="clean-up")
    if d.error:
        check.fail(f"restore of {d.backup} failed: {d.error}")
    if profile.backup.restore_drill.max_rto is not None and d.rto_s is not None:
        check.at_most(d.rto_s, profile.backup.restore_drill.max_rto * 86400, what="RTO (s)")
    if not d.tables:
        check.fail(f"{d.backup}: the manifest lists no table checksums to compare")
    bad = []
    for name, t in sorted(d.tables.items()):
        if t.expected_rows is not None and t.restored_rows != t.expected_rows:
            bad.append(f"{name}: rows {t.restored_rows} != {t.expected_rows}")
        if t.expected_checksum is not None and t.restored_checksum != t.expected_checksum:
            bad.append(f"{name}: checksum {t.restored_checksum} != {t.expected_checksum}")
    check.none_of(bad, what=f"tables differing from the manifest ({len(d.tables)} compared)")
