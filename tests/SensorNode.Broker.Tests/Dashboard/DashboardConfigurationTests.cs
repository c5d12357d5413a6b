using System.Collections;
using SensorNode.Broker.Configuration;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Operations;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>The "dashboard" section of the configuration file.</summary>
public sealed class DashboardConfigurationTests
{
    private static string Write(string json)
    {
        string path = Path.Combine(TestBroker.NewDataDirectory(), "broker.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void The_dashboard_section_sets_retention_interval_and_can_turn_it_off()
    {
        string path = Write("""
            {
              "dashboard": { "enabled": false, "rawRetentionHours": 24, "averageRetentionDays": 90, "averageMinutes": 15, "loginDays": 1 }
            }
            """);
        Broker.Dashboard.DashboardOptions options = BrokerConfiguration.Load(path, new Hashtable()).Options.Dashboard;
        Assert.False(options.Enabled);
        Assert.Equal(TimeSpan.FromHours(24), options.RawRetention);
        Assert.Equal(TimeSpan.FromDays(90), options.AverageRetention);
        Assert.Equal(TimeSpan.FromMinutes(15), options.AverageInterval);
        Assert.Equal(TimeSpan.FromDays(1), options.SessionLifetime);
    }

    [Fact]
    public void Defaults_are_48_hours_raw_and_30_days_of_5_minute_averages_and_the_environment_overrides()
    {
        Broker.Dashboard.DashboardOptions defaults = BrokerConfiguration.Load(Write("{}"), new Hashtable()).Options.Dashboard;
        Assert.True(defaults.Enabled);
        Assert.Equal(TimeSpan.FromHours(48), defaults.RawRetention);
        Assert.Equal(TimeSpan.FromDays(30), defaults.AverageRetention);
        Assert.Equal(TimeSpan.FromMinutes(5), defaults.AverageInterval);

        var environment = new Hashtable { ["SENSORNODE_DASHBOARD__ENABLED"] = "false" };
        Assert.False(BrokerConfiguration.Load(Write("{}"), environment).Options.Dashboard.Enabled);
    }

    [Theory]
    [InlineData("\"rawRetentionHours\": 0", "dashboard.rawRetentionHours", "out of range")]
    [InlineData("\"averageMinutes\": \"five\"", "dashboard.averageMinutes", "not a whole number")]
    [InlineData("\"enabled\": \"sometimes\"", "dashboard.enabled", "not true or false")]
    [InlineData("\"retention\": 3", "dashboard.retention", "")]
    public void A_bad_value_is_reported_with_file_line_and_key(string entry, string key, string message)
    {
        string path = Write("{\n  \"dashboard\": {\n    " + entry + "\n  }\n}");
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, new Hashtable()));
        ConfigurationError error = Assert.Single(ex.Errors);
        Assert.Equal(3, error.Line);
        Assert.Equal(key, error.Key);
        Assert.Contains(message, error.Reason);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void The_shipped_example_configuration_has_the_dashboard_on()
    {
        string example = Path.Combine(ConfigurationTests.RepositoryRoot(), "deploy", "broker.json");
        Broker.Dashboard.DashboardOptions options = BrokerConfiguration.Load(example, new Hashtable()).Options.Dashboard;
        Assert.True(options.Enabled);
        Assert.Equal(TimeSpan.FromHours(48), options.RawRetention);
    }
}
