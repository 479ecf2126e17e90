"""The published report.html follows the plan in force; every plan keeps its own report."""

from planning.report import promote_report


def test_plan_in_force_replaces_report_html_and_keeps_its_own_copy(tmp_path):
    draft = tmp_path / "draft.html"
    draft.write_text("plan A")
    kept = promote_report(draft, tmp_path / "pub", "A", in_force="A")
    assert kept == tmp_path / "pub" / "reports" / "A.html"
    assert kept.read_text() == "plan A" and (tmp_path / "pub" / "report.html").read_text() == "plan A"
    assert not draft.exists()


def test_a_plan_not_in_force_leaves_report_html_alone(tmp_path):
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "report.html").write_text("plan A")
    draft = tmp_path / "draft.html"
    draft.write_text("scenario S")
    kept = promote_report(draft, tmp_path / "pub", "S", in_force="A")
    assert kept.read_text() == "scenario S"
    assert (tmp_path / "pub" / "report.html").read_text() == "plan A"


def test_no_draft_means_no_report(tmp_path):
    assert promote_report(tmp_path / "missing.html", tmp_path / "pub", "A", in_force="A") is None
    assert not (tmp_path / "pub" / "report.html").exists()
