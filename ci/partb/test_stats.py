"""Unit tests of ci/partb's statistics on fixed inputs.

Run: python3 -m unittest discover -s ci/partb -v"""

import unittest

import stats


class Percentiles(unittest.TestCase):
    def test_median_of_odd_count_is_the_middle_value(self):
        self.assertEqual(stats.median([5, 1, 3]), 3)

    def test_median_of_even_count_is_the_mean_of_the_middle_two(self):
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)

    def test_median_of_one_value(self):
        self.assertEqual(stats.median([7.5]), 7.5)

    def test_percentile_interpolates_between_ranks(self):
        values = [10, 20, 30, 40, 50]
        self.assertEqual(stats.percentile(values, 0), 10)
        self.assertEqual(stats.percentile(values, 25), 20)
        self.assertEqual(stats.percentile(values, 100), 50)
        # rank 0.9 * 4 = 3.6: 40 + 0.6 * (50 - 40)
        self.assertAlmostEqual(stats.percentile(values, 90), 46.0)
        # rank 0.1 * 4 = 0.4: 10 + 0.4 * 10
        self.assertAlmostEqual(stats.percentile(values, 10), 14.0)

    def test_percentile_ignores_input_order(self):
        self.assertAlmostEqual(stats.percentile([50, 10, 40, 20, 30], 90), 46.0)

    def test_percentile_matches_numpys_linear_method(self):
        # numpy.percentile(range(1, 11), [10, 50, 99]) == [1.9, 5.5, 9.91]
        values = list(range(1, 11))
        self.assertAlmostEqual(stats.percentile(values, 10), 1.9)
        self.assertAlmostEqual(stats.percentile(values, 50), 5.5)
        self.assertAlmostEqual(stats.percentile(values, 99), 9.91)

    def test_percentile_refuses_no_values_and_bad_p(self):
        with self.assertRaises(ValueError):
            stats.percentile([], 50)
        with self.assertRaises(ValueError):
            stats.percentile([1], 101)

    def test_summary(self):
        s = stats.summary([3.0, 1.0, 2.0, 4.0])
        self.assertEqual(s["n"], 4)
        self.assertEqual((s["min"], s["max"]), (1.0, 4.0))
        self.assertEqual(s["median"], 2.5)
        self.assertEqual(s["mean"], 2.5)
        self.assertAlmostEqual(s["p10"], 1.3)
        self.assertAlmostEqual(s["p90"], 3.7)
        self.assertAlmostEqual(s["p25"], 1.75)
        self.assertAlmostEqual(s["p75"], 3.25)


class Saturation(unittest.TestCase):
    def test_rising_then_flat_saturates_after_two_flat_levels(self):
        rps = [1000, 1900, 3500, 3600, 3550, 3400, 3300]
        rule = stats.saturation(rps)
        self.assertTrue(rule["saturated"])
        # 3600 is within 5% of 3500: no improvement; 3550 neither: stop.
        self.assertEqual(rule["stop"], 4)
        self.assertEqual(rule["best"], 3)
        self.assertEqual(rule["knee"], 2)

    def test_still_rising_is_not_saturated(self):
        rule = stats.saturation([100, 200, 400, 800])
        self.assertFalse(rule["saturated"])
        self.assertEqual(rule["stop"], 3)
        self.assertEqual(rule["best"], 3)
        self.assertEqual(rule["knee"], 3)

    def test_one_flat_level_is_not_yet_saturation(self):
        rule = stats.saturation([100, 200, 205, 400])
        self.assertFalse(rule["saturated"])
        self.assertEqual(rule["best"], 3)

    def test_a_late_rise_resets_the_count(self):
        rule = stats.saturation([100, 103, 200, 202, 204])
        self.assertTrue(rule["saturated"])
        self.assertEqual(rule["stop"], 4)
        self.assertEqual(rule["best"], 4)
        self.assertEqual(rule["knee"], 2)

    def test_falling_throughput_saturates_at_the_first_level(self):
        rule = stats.saturation([500, 300, 200, 100])
        self.assertTrue(rule["saturated"])
        self.assertEqual(rule["stop"], 2)
        self.assertEqual(rule["best"], 0)
        self.assertEqual(rule["knee"], 0)

    def test_levels_after_the_stop_still_count_for_the_best(self):
        # The rule says "saturated" at index 3; a level measured past it
        # (in another round) still holds the highest throughput seen.
        rule = stats.saturation([100, 200, 201, 199, 230])
        self.assertTrue(rule["saturated"])
        self.assertEqual(rule["stop"], 3)
        self.assertEqual(rule["best"], 4)
        self.assertEqual(rule["knee"], 4)

    def test_gain_and_patience_are_parameters(self):
        rps = [100, 107, 109, 113]
        self.assertFalse(stats.saturation(rps, gain=0.05)["saturated"])
        self.assertTrue(stats.saturation(rps, gain=0.10, patience=2)["saturated"])
        self.assertTrue(stats.saturation([100, 100], patience=1)["saturated"])

    def test_one_level(self):
        rule = stats.saturation([42])
        self.assertFalse(rule["saturated"])
        self.assertEqual((rule["best"], rule["knee"], rule["stop"]), (0, 0, 0))

    def test_no_levels(self):
        with self.assertRaises(ValueError):
            stats.saturation([])


class Budget(unittest.TestCase):
    def test_fit_in_budget_rounds_down(self):
        self.assertEqual(stats.fit_in_budget(16 * 2**30, 300 * 2**20), 54)
        self.assertEqual(stats.fit_in_budget(1000, 1000), 1)
        self.assertEqual(stats.fit_in_budget(999, 1000), 0)

    def test_fit_in_budget_refuses_empty_instances(self):
        with self.assertRaises(ValueError):
            stats.fit_in_budget(1000, 0)

    def test_ratio(self):
        self.assertEqual(stats.ratio(10, 4), 2.5)
        self.assertIsNone(stats.ratio(10, 0))
        self.assertIsNone(stats.ratio(None, 4))


if __name__ == "__main__":
    unittest.main()
