using MQTTnet;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using SensorNode.Broker.Security;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Security;

/// <summary>`sensornode-broker passwd add|list|delete` through the real executable, and the file it writes used by a broker.</summary>
public sealed class PasswdCliTests
{
    [Fact]
    public async Task Passwd_add_list_login_delete_round_trip()
    {
        string directory = TestBroker.NewDataDirectory();
        string users = Path.Combine(directory, "users.txt");

        ProcessResult addAlice = await RunBrokerCliAsync("passwd", "add", users, "alice", "--password", "Alice-Cli-Pw-1");
        addAlice.AssertSuccess();
        ProcessResult addBob = await RunBrokerCliAsync("passwd", "add", users, "bob", "--password", "Bob-Cli-Pw-2");
        addBob.AssertSuccess();

        // The file holds salted hashes, never the passwords, and only its owner may read it.
        string text = await File.ReadAllTextAsync(users);
        Assert.DoesNotContain("Alice-Cli-Pw-1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Bob-Cli-Pw-2", text, StringComparison.Ordinal);
        Assert.Contains("alice:$pbkdf2-sha512$210000$", text, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(users));
        }

        // Nothing the commands print gives a password or a hash away.
        foreach (ProcessResult result in new[] { addAlice, addBob })
        {
            Assert.DoesNotContain(result.OutputLines, l => l.Contains("Pw-", StringComparison.Ordinal) || l.Contains("$pbkdf2", StringComparison.Ordinal));
        }

        ProcessResult list = await RunBrokerCliAsync("passwd", "list", users);
        list.AssertSuccess();
        Assert.Equal(["alice", "bob"], list.OutputLines.Where(l => l.Length > 0));
        Assert.DoesNotContain("$", list.ErrorText + string.Join('\n', list.OutputLines), StringComparison.Ordinal);

        // A broker using the file lets alice in with her password only.
        await using (BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
        }))
        {
            await using MqttNetClient ok = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "Alice-Cli-Pw-1"));
            Assert.Equal(MqttClientConnectResultCode.Success, ok.ConnectResult!.ResultCode);
            await using MqttNetClient wrong = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "Bob-Cli-Pw-2"));
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, wrong.ConnectResult!.ResultCode);
        }

        (await RunBrokerCliAsync("passwd", "delete", users, "bob")).AssertSuccess();
        ProcessResult afterDelete = await RunBrokerCliAsync("passwd", "list", users);
        afterDelete.AssertSuccess();
        Assert.Equal(["alice"], afterDelete.OutputLines.Where(l => l.Length > 0));

        ProcessResult deleteAgain = await RunBrokerCliAsync("passwd", "delete", users, "bob");
        Assert.NotEqual(0, deleteAgain.ExitCode);
        Assert.Contains("no user 'bob'", deleteAgain.ErrorText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passwd_on_a_file_with_a_bad_line_fails_naming_file_and_line()
    {
        string users = Path.Combine(TestBroker.NewDataDirectory(), "users.txt");
        await File.WriteAllLinesAsync(users, ["# users", $"alice:{PasswordHasher.Hash("pw", FastIterations)}", "carol:plaintext-secret"]);

        ProcessResult list = await RunBrokerCliAsync("passwd", "list", users);
        Assert.NotEqual(0, list.ExitCode);
        Assert.Contains($"{users}:3:", list.ErrorText, StringComparison.Ordinal);
        Assert.DoesNotContain("plaintext-secret", list.ErrorText + string.Join('\n', list.OutputLines), StringComparison.Ordinal);

        // add refuses to rewrite (and so silently drop) a file it cannot parse.
        ProcessResult add = await RunBrokerCliAsync("passwd", "add", users, "dave", "--password", "pw");
        Assert.NotEqual(0, add.ExitCode);
        Assert.Contains($"{users}:3:", add.ErrorText, StringComparison.Ordinal);
        Assert.Contains("carol:plaintext-secret", await File.ReadAllTextAsync(users), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passwd_add_reads_the_password_from_standard_input_and_refuses_an_empty_one()
    {
        string users = Path.Combine(TestBroker.NewDataDirectory(), "users.txt");
        ProcessResult piped = await ExternalTool.RunAsync("dotnet", [Hosting.BrokerProcess.ExecutablePath, "passwd", "add", users, "erin"], standardInputLines: ["Erin-Stdin-Pw"], timeout: TimeSpan.FromSeconds(30));
        piped.AssertSuccess();
        Assert.True(PasswordFile.Load(users).Verify("erin", "Erin-Stdin-Pw"));

        ProcessResult empty = await RunBrokerCliAsync("passwd", "add", users, "frank", "--password", string.Empty);
        Assert.NotEqual(0, empty.ExitCode);
        Assert.False(PasswordFile.Load(users).Contains("frank"));
    }
}
