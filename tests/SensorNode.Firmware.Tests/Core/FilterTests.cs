using SensorNode.Firmware.Core.Readings;

namespace SensorNode.Firmware.Tests.Core;

public sealed class FilterTests
{
    [Theory]
    [InlineData(SensorModel.Dht22, -40.0, true)]
    [InlineData(SensorModel.Dht22, 80.0, true)]
    [InlineData(SensorModel.Dht22, -40.1, false)]
    [InlineData(SensorModel.Dht22, 80.1, false)]
    [InlineData(SensorModel.Dht11, -1.0, false)]
    [InlineData(SensorModel.Dht11, 60.0, true)]
    [InlineData(SensorModel.Dht11, 61.0, false)]
    public void Temperature_range_depends_on_the_model(SensorModel model, double value, bool accepted)
    {
        SensorLimits limits = SensorLimits.For(model);
        var check = new PlausibilityCheck(limits.MinTemperature, limits.MaxTemperature, 100);
        Assert.Equal(accepted ? Plausibility.Accepted : Plausibility.OutOfRange, check.Check(value));
    }

    [Fact]
    public void Humidity_range_of_dht11_is_2_to_95()
    {
        SensorLimits limits = SensorLimits.For(SensorModel.Dht11);
        Assert.Equal(2, limits.MinHumidity);
        Assert.Equal(95, limits.MaxHumidity);
        Assert.Equal(1, limits.MinIntervalSeconds);
        Assert.Equal(2, SensorLimits.For(SensorModel.Dht22).MinIntervalSeconds);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Not_a_number_is_rejected(double value)
    {
        Assert.Equal(Plausibility.NotANumber, new PlausibilityCheck(-40, 80, 5).Check(value));
    }

    [Fact]
    public void A_single_spike_is_rejected_but_a_lasting_change_is_accepted()
    {
        var check = new PlausibilityCheck(-40, 80, 5);
        Assert.Equal(Plausibility.Accepted, check.Check(21.0));
        Assert.Equal(Plausibility.Jump, check.Check(60.0));
        Assert.Equal(Plausibility.Accepted, check.Check(21.2));

        // A heater switched on: the new level repeats and is believed on the third reading in a row.
        Assert.Equal(Plausibility.Jump, check.Check(30.0));
        Assert.Equal(Plausibility.Jump, check.Check(30.1));
        Assert.Equal(Plausibility.Accepted, check.Check(30.2));
        Assert.Equal(Plausibility.Accepted, check.Check(30.3));
    }

    [Fact]
    public void Scattered_spikes_never_confirm_each_other()
    {
        var check = new PlausibilityCheck(-40, 80, 5);
        check.Check(20);
        Assert.Equal(Plausibility.Jump, check.Check(40));
        Assert.Equal(Plausibility.Jump, check.Check(60));
        Assert.Equal(Plausibility.Jump, check.Check(0));
    }

    [Fact]
    public void Median_filter_smooths_outliers_and_reports_the_first_value_at_once()
    {
        var median = new MedianFilter(5);
        Assert.Equal(20.0, median.Add(20.0));
        Assert.Equal(20.5, median.Add(21.0));
        Assert.Equal(21.0, median.Add(29.0));
        Assert.Equal(21.0, median.Add(21.0));
        Assert.Equal(21.0, median.Add(21.5));
        Assert.Equal(21.5, median.Add(22.0)); // window now 21, 29, 21, 21.5, 22
    }

    [Fact]
    public void Median_window_of_one_passes_values_through()
    {
        var median = new MedianFilter(1);
        Assert.Equal(3.0, median.Add(3.0));
        Assert.Equal(9.0, median.Add(9.0));
    }

    [Fact]
    public void Report_policy_dead_band_and_heartbeat()
    {
        var policy = new ReportPolicy(0.2, 60_000);
        Assert.True(policy.ShouldPublish(21.0, 0));
        policy.MarkPublished(21.0, 0);

        Assert.False(policy.ShouldPublish(21.2, 1_000));   // within the dead-band (not more than 0.2)
        Assert.True(policy.ShouldPublish(21.3, 1_000));    // beyond it
        Assert.False(policy.ShouldPublish(21.0, 59_999));
        Assert.True(policy.ShouldPublish(21.0, 60_000));   // heartbeat
    }
}
