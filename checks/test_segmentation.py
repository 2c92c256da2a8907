"""2.1 Docker 컨테이너 구조 / 4.1 네트워크 보안: zone segmentation as a reachability matrix. Each pair
(source container, destination:port) the profile's flows require must answer from inside the source;
each pair no flow allows must not. Pairs inside one Docker network that no flow needs are tolerated
(listed in the profile) and not checked."""
from __future__ import annotations

from plancheck.controls import control
from plancheck.evaluate import Check, not_here
from plancheck.facts.base import FactError
from plancheck.facts.segmentation import SegmentationFacts

SEG = "4.1 네트워크 보안 (zone segmentation)"


def _answered(segmentation: SegmentationFacts, pair: tuple[str, str, int]) -> bool:
    src, dst, port = pair
    for name in (src, dst):
        if name in segmentation.absent:
            not_here(segmentation.absent[name])
        if name in segmentation.down:
            raise FactError(segmentation.down[name])
    found = segmentation.reachable.get(src, {}).get(f"{dst}:{port}")
    if found is None:  # both run, yet the pair has no verdict: never read as either answer
        raise FactError(f"{src} -> {dst}:{port} was not probed ({segmentation.source})")
    return bool(found)


@control("SEG-001", title="Required flow between zones answers", severity="high", section=SEG,
         rationale="The platform works only if each planned flow (gateway -> apps, apps -> databases, Prometheus -> "
         "exporters, ...) is open.", remediation="Attach both containers to the zone network the flow uses.",
         reads=("security.segmentation.allowed", "zones"))
def test_segmentation_required_flow(check: Check, segmentation: SegmentationFacts,
                                    segmentation_required: tuple[str, str, int]) -> None:
    src, dst, port = segmentation_required
    check.is_true(_answered(segmentation, segmentation_required), what=f"{src} reaches {dst}:{port}",
                  expected_text="answers", found_text="no answer")


@control("SEG-002", title="Flow no zone rule allows is refused", severity="critical", section=SEG,
         rationale="Zones only contain a breach when nothing outside the allowed flows gets through: e.g. only "
         "application services reach MariaDB and Redis, the edge reaches only the applications.",
         remediation="Detach the container from the network that joins the zones (docker network disconnect; "
         "compose `networks:`).", tags=("cis-docker-1.12:2.1", "docker-bench-1.6.0:2.1"),
         reads=("security.segmentation.allowed", "zones"))
def test_segmentation_forbidden_flow(check: Check, segmentation: SegmentationFacts,
                                     segmentation_forbidden: tuple[str, str, int]) -> None:
    src, dst, port = segmentation_forbidden
    answered = _answered(segmentation, segmentation_forbidden)
    check.that(not answered, expected="no answer", found="answers" if answered else "no answer",
               what=f"{src} -> {dst}:{port}")
