import pytest
import yaml

from planning.config import DEFAULT_CONFIG_PATH, ConfigError, load_config


def _write(tmp_path, mutate):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_shipped_config_loads_and_hash_is_stable():
    a, b = load_config(), load_config()
    assert a.config_hash() == b.config_hash() and len(a.config_hash()) == 12
    assert a.territories.balance_tolerance == 0.05


def test_override_changes_hash_and_value():
    base = load_config()
    changed = load_config(overrides={"goals.growth_share": 0.25})
    assert changed.goals.growth_share == 0.25
    assert changed.config_hash() != base.config_hash()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["territories"].update(balance_tolerance=2), "territories.balance_tolerance"),
        (lambda r: r["schedules"].update(yearly_cron="every year"), "schedules.yearly_cron"),
        (lambda r: r["coverage_tiers"][0].update(when="size_tier =="), "coverage_tiers.0.when"),
        (lambda r: r["coverage_tiers"][0].update(role="astronaut"), "coverage_tiers.0.role"),
        (lambda r: r["coverage_tiers"].pop(), "catch-all"),
        (lambda r: r["workload"]["service"].pop("<5K"), "<5K"),
        (lambda r: r.update(unknown_key=1), "unknown_key"),
        (lambda r: r["segments"]["size_tiers"].reverse(), "size tiers"),
        (lambda r: r["quality"]["row_count_change"].update(min_ratio=3), "min_ratio must not exceed"),
        (lambda r: r["quality"]["freshness"].update(max_age_days=-1), "quality.freshness.max_age_days"),
        (lambda r: r["quality"].update(sample_rows=0), "quality.sample_rows"),
        (lambda r: r["plan"].update(fiscal_year_start_month=2), "must start in month 1, 4, 7 or 10"),
        # an April fiscal year with the calendar year's crons: the yearly run would redesign mid-year
        (lambda r: r["plan"].update(fiscal_year_start_month=4), "must run in month 4 only"),
        (lambda r: r["schedules"].update(quarterly_cron="0 5 1 * *"), "months [4, 7, 10]"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_an_april_fiscal_year_with_matching_schedules_loads():
    cfg = load_config(
        overrides={
            "plan.fiscal_year_start_month": 4,
            "schedules.yearly_cron": "0 5 1 4 *",
            "schedules.quarterly_cron": "0 5 1 1,7,10 *",
        }
    )
    assert cfg.plan.fiscal_year_start_month == 4


def test_a_cron_macro_is_a_config_error_not_a_traceback():
    with pytest.raises(ConfigError, match="five fields"):
        load_config(overrides={"schedules.yearly_cron": "@yearly"})


def test_scenario_cannot_set_machine_resources():
    import argparse

    from orchestration.cli_publish import plan_run_choices

    args = argparse.Namespace(
        overrides=["warehouse.memory_limit=2GB"], scenario="small box", as_of=None, input_dir=None
    )
    with pytest.raises(ConfigError, match="warehouse.memory_limit: warehouse.* are machine resources"):
        plan_run_choices(args, load_config())
