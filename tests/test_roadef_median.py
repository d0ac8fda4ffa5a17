"""The ROADEF runner's per-instance median over seeds: a real run, the middle one by score."""

from benchmarks.roadef.run import Row, mean_score, median_rows


def _row(instance: str, seed: int, score: float) -> Row:
    return Row(instance, seed, 100, 100 + int(score), 100, score, 0, None, 1.0, 1, 1, 0, 0, 0.0, "-", True)


def test_the_median_run_is_the_middle_score_and_instances_keep_their_order() -> None:
    rows = [_row("b_1", 0, 3.7), _row("b_1", 1, 5.5), _row("b_1", 2, 4.5), _row("a1_1", 0, 0.0)]
    medians = median_rows(rows)
    assert [(r.instance, r.seed) for r in medians] == [("b_1", 2), ("a1_1", 0)]
    assert mean_score(medians, "b") == 4.5


def test_an_even_count_takes_the_lower_middle_run() -> None:
    assert median_rows([_row("a2_2", 0, 9.6), _row("a2_2", 1, 8.0)])[0].seed == 1
