using System.Runtime.Versioning;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Tests.Security;

public sealed class PasswordHasherTests
{
    [Fact]
    public void Default_hash_is_pbkdf2_sha512_with_210000_iterations_and_verifies()
    {
        string hash = PasswordHasher.Hash("correct horse");

        Assert.StartsWith("$pbkdf2-sha512$210000$", hash, StringComparison.Ordinal);
        string[] parts = hash.Split('$');
        Assert.Equal(5, parts.Length);
        Assert.Equal(16, Convert.FromBase64String(parts[3]).Length);
        Assert.Equal(64, Convert.FromBase64String(parts[4]).Length);
        Assert.DoesNotContain("correct horse", hash, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("correct horse", hash));
    }

    [Theory]
    [InlineData("correct horsf")]
    [InlineData("Correct horse")]
    [InlineData("correct horse ")]
    [InlineData("")]
    public void Wrong_password_does_not_verify(string wrong)
    {
        string hash = PasswordHasher.Hash("correct horse", SecurityTestSupport.FastIterations);
        Assert.False(PasswordHasher.Verify(wrong, hash));
    }

    [Fact]
    public void Same_password_hashed_twice_gets_different_salts_and_hashes()
    {
        string a = PasswordHasher.Hash("pw", SecurityTestSupport.FastIterations);
        string b = PasswordHasher.Hash("pw", SecurityTestSupport.FastIterations);

        Assert.NotEqual(a, b);
        Assert.NotEqual(a.Split('$')[3], b.Split('$')[3]);
        Assert.True(PasswordHasher.Verify("pw", a));
        Assert.True(PasswordHasher.Verify("pw", b));
    }

    [Fact]
    public void Unicode_passwords_round_trip()
    {
        string hash = PasswordHasher.Hash("pässwörd-密码-🔑", SecurityTestSupport.FastIterations);
        Assert.True(PasswordHasher.Verify("pässwörd-密码-🔑", hash));
        Assert.False(PasswordHasher.Verify("passwörd-密码-🔑", hash));
    }

    public static TheoryData<string> Malformed()
    {
        string good = PasswordHasher.Hash("pw", SecurityTestSupport.FastIterations);
        string[] p = good.Split('$');
        string salt8 = Convert.ToBase64String(new byte[8]);
        string hash32 = Convert.ToBase64String(new byte[32]);
        return new TheoryData<string>
        {
            string.Empty,
            "pw",
            "$",
            "$$$$",
            $"pbkdf2-sha512${p[2]}${p[3]}${p[4]}",          // no leading '$'
            $"x$pbkdf2-sha512${p[2]}${p[3]}${p[4]}",         // something before the scheme
            $"$pbkdf2-sha256${p[2]}${p[3]}${p[4]}",          // another scheme
            $"$PBKDF2-SHA512${p[2]}${p[3]}${p[4]}",          // scheme is case-sensitive
            $"$pbkdf2-sha512$999${p[3]}${p[4]}",             // too few iterations
            $"$pbkdf2-sha512$0${p[3]}${p[4]}",
            $"$pbkdf2-sha512$-1000${p[3]}${p[4]}",
            $"$pbkdf2-sha512$+1000${p[3]}${p[4]}",
            $"$pbkdf2-sha512$ 1000${p[3]}${p[4]}",
            $"$pbkdf2-sha512$1e4${p[3]}${p[4]}",
            $"$pbkdf2-sha512$99999999999${p[3]}${p[4]}",     // overflows int
            $"$pbkdf2-sha512${p[2]}$not*base64${p[4]}",
            $"$pbkdf2-sha512${p[2]}${p[3]}$not*base64",
            $"$pbkdf2-sha512${p[2]}${Convert.ToBase64String(new byte[7])}${p[4]}", // salt too short
            $"$pbkdf2-sha512${p[2]}${salt8}${Convert.ToBase64String(new byte[31])}", // hash too short
            $"$pbkdf2-sha512${p[2]}${p[3]}",                 // missing hash
            $"$pbkdf2-sha512${p[2]}${p[3]}${p[4]}$",         // extra field
            $"$pbkdf2-sha512${p[2]}${p[3]}${p[4]}$extra",
            $"$pbkdf2-sha512${p[2]}$${hash32}",              // empty salt
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_hash_strings_are_not_well_formed_and_never_verify(string encoded)
    {
        Assert.False(PasswordHasher.IsWellFormed(encoded));
        Assert.False(PasswordHasher.Verify("pw", encoded));
        Assert.False(PasswordHasher.Verify(string.Empty, encoded));
    }

    [Fact]
    public void Minimum_salt_and_hash_lengths_are_accepted_and_verified_against_their_own_length()
    {
        // A hand-made hash with an 8-byte salt and 32-byte digest (the minimums) is honoured as written.
        byte[] salt = new byte[8];
        byte[] digest = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2("pw", salt, 1000, System.Security.Cryptography.HashAlgorithmName.SHA512, 32);
        string encoded = $"$pbkdf2-sha512$1000${Convert.ToBase64String(salt)}${Convert.ToBase64String(digest)}";

        Assert.True(PasswordHasher.IsWellFormed(encoded));
        Assert.True(PasswordHasher.Verify("pw", encoded));
        Assert.False(PasswordHasher.Verify("pw2", encoded));
    }
}

public sealed class MosquittoPasswordHashTests
{
    // Written by mosquitto_passwd 2.0.11 on this machine: its default ($7$, PBKDF2-SHA512, 101 iterations) and
    // '-H sha512' ($6$, one salted SHA-512).
    private const string Pbkdf2 = "$7$101$LQ6Y6cc7otyQwfTx$N8gEFtsCVXgnXmxieJ38U369TyrsMdRj7N85A4iRp4rz21zf+xeHSp+WUdjEW1v8nrWmxFLpGUP0SAjAl/pUxw==";
    private const string Sha512 = "$6$g8FU7he/6oFVD/IM$ZueOY0UvtxACf2QV72QwaM5xjfVmAuNUBKo8lFfLC/2lKawQel+o7DOn9IgGsCokCzqzKeHfGnz2vkItARVXRA==";

    [Theory]
    [InlineData(Pbkdf2, "s3cret-pass")]
    [InlineData(Sha512, "other pw")]
    public void Mosquitto_hashes_verify_their_password_and_no_other(string encoded, string password)
    {
        Assert.True(PasswordHasher.IsWellFormed(encoded));
        Assert.True(PasswordHasher.Verify(password, encoded));
        Assert.False(PasswordHasher.Verify(password + "x", encoded));
        Assert.False(PasswordHasher.Verify(string.Empty, encoded));
    }

    [Theory]
    [InlineData("$7$0$LQ6Y6cc7otyQwfTx$N8gEFtsCVXgnXmxieJ38U369TyrsMdRj7N85A4iRp4rz21zf+xeHSp+WUdjEW1v8nrWmxFLpGUP0SAjAl/pUxw==")] // no iterations
    [InlineData("$7$LQ6Y6cc7otyQwfTx$N8gEFtsCVXgnXmxieJ38U369TyrsMdRj7N85A4iRp4rz21zf+xeHSp+WUdjEW1v8nrWmxFLpGUP0SAjAl/pUxw==")]     // iterations missing
    [InlineData("$6$101$g8FU7he/6oFVD/IM$ZueOY0UvtxACf2QV72QwaM5xjfVmAuNUBKo8lFfLC/2lKawQel+o7DOn9IgGsCokCzqzKeHfGnz2vkItARVXRA==")] // $6$ has none
    [InlineData("$6$g8FU7he/6oFVD/IM$ZueOY0UvtxACf2QV72QwaM5x")]                                                                // hash cut short
    [InlineData("$5$g8FU7he/6oFVD/IM$ZueOY0UvtxACf2QV72QwaM5xjfVmAuNUBKo8lFfLC/2lKawQel+o7DOn9IgGsCokCzqzKeHfGnz2vkItARVXRA==")]     // unknown type
    public void Damaged_mosquitto_hashes_are_not_well_formed(string encoded)
    {
        Assert.False(PasswordHasher.IsWellFormed(encoded));
        Assert.False(PasswordHasher.Verify("s3cret-pass", encoded));
    }

    [Fact]
    public void A_mosquitto_passwd_file_loads_beside_our_own_lines()
    {
        PasswordFile file = PasswordFile.Parse("passwd", [$"alice:{Pbkdf2}", $"bob:{Sha512}", $"carol:{PasswordHasher.Hash("c", SecurityTestSupport.FastIterations)}"]);

        Assert.True(file.Verify("alice", "s3cret-pass"));
        Assert.True(file.Verify("bob", "other pw"));
        Assert.True(file.Verify("carol", "c"));
        Assert.False(file.Verify("bob", "s3cret-pass"));
    }
}

public sealed class PasswordFileTests
{
    private static string Hash(string password = "pw") => PasswordHasher.Hash(password, SecurityTestSupport.FastIterations);

    [Fact]
    public void Parses_users_skipping_comments_and_blank_lines()
    {
        PasswordFile file = PasswordFile.Parse("users.txt", ["# users", string.Empty, $"alice:{Hash("a")}", "   ", $"  bob:{Hash("b")}  ", "# end"]);

        Assert.Equal(["alice", "bob"], file.Users.Order(StringComparer.Ordinal));
        Assert.True(file.Verify("alice", "a"));
        Assert.True(file.Verify("bob", "b"));
        Assert.False(file.Verify("alice", "b"));
        Assert.False(file.Verify("carol", "a"));
        Assert.True(file.Contains("alice"));
        Assert.False(file.Contains("Alice")); // user names are case-sensitive
    }

    [Theory]
    [InlineData("alice", "expected 'user:hash'")]
    [InlineData(":$pbkdf2-sha512$1000$AAAAAAAAAAA=$AAAA", "expected 'user:hash'")]
    [InlineData("alice secret", "expected 'user:hash'")]
    public void A_line_without_user_and_hash_names_the_file_and_line(string bad, string problem)
    {
        var ex = Assert.Throws<ConfigFileException>(() => PasswordFile.Parse("/etc/sensornode/users.txt", ["# header", $"alice:{Hash()}", bad]));

        Assert.Equal("/etc/sensornode/users.txt", ex.Path);
        Assert.Equal(3, ex.Line);
        Assert.StartsWith("/etc/sensornode/users.txt:3: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("carol:secret")]
    [InlineData("carol:")]
    [InlineData("carol:$pbkdf2-sha512$secret")]
    [InlineData("carol:{PLAIN}secret")]
    public void Plaintext_or_unknown_hashes_are_refused_with_file_and_line(string line)
    {
        var ex = Assert.Throws<ConfigFileException>(() => PasswordFile.Parse("users.txt", [$"alice:{Hash()}", string.Empty, line]));

        Assert.Equal(3, ex.Line);
        Assert.StartsWith("users.txt:3: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("plaintext passwords are not accepted", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'carol'", ex.Message, StringComparison.Ordinal);

        // The message names the user, never the text after the colon.
        string secret = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..];
        if (secret.Length > 0)
        {
            Assert.DoesNotContain(secret, ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_duplicate_user_is_refused_at_its_second_line()
    {
        var ex = Assert.Throws<ConfigFileException>(() => PasswordFile.Parse("users.txt", [$"alice:{Hash()}", $"bob:{Hash()}", "# again", $"alice:{Hash()}"]));

        Assert.Equal(4, ex.Line);
        Assert.Contains("user 'alice' appears twice", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_then_load_round_trips_users_without_plaintext()
    {
        string path = Path.Combine(Infrastructure.TestBroker.NewDataDirectory(), "users.txt");
        PasswordFile.Empty.With("bob", "bob-pw-1").With("alice", "alice-pw-1").Save(path);

        PasswordFile loaded = PasswordFile.Load(path);
        Assert.Equal(["alice", "bob"], loaded.Users.Order(StringComparer.Ordinal));
        Assert.True(loaded.Verify("alice", "alice-pw-1"));
        Assert.True(loaded.Verify("bob", "bob-pw-1"));
        Assert.False(loaded.Verify("alice", "bob-pw-1"));

        string text = File.ReadAllText(path);
        Assert.DoesNotContain("alice-pw-1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("bob-pw-1", text, StringComparison.Ordinal);
        string[] users = [.. File.ReadAllLines(path).Where(l => !l.StartsWith('#'))];
        Assert.Equal(2, users.Length);
        Assert.StartsWith("alice:$pbkdf2-sha512$210000$", users[0], StringComparison.Ordinal);
        Assert.StartsWith("bob:$pbkdf2-sha512$210000$", users[1], StringComparison.Ordinal);

        // Changing a password and removing a user also round-trip; no temp file is left behind.
        loaded.With("alice", "alice-pw-2").Without("bob").Save(path);
        PasswordFile again = PasswordFile.Load(path);
        Assert.Equal(["alice"], again.Users);
        Assert.True(again.Verify("alice", "alice-pw-2"));
        Assert.False(again.Verify("alice", "alice-pw-1"));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [SkippableFact]
    public void Saved_file_is_readable_by_its_owner_only()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes");
        if (!OperatingSystem.IsWindows())
        {
            AssertOwnerOnly();
        }
    }

    [UnsupportedOSPlatform("windows")]
    private static void AssertOwnerOnly()
    {
        string path = Path.Combine(Infrastructure.TestBroker.NewDataDirectory(), "users.txt");

        PasswordFile.Empty.With("alice", "pw").Save(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        // An existing, world-readable file is rewritten readable by nobody else; its group keeps read access (0644 -> 0640).
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        PasswordFile.Load(path).With("bob", "pw").Save(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
    }

    /// <summary>
    /// A users file given to the service's group (root:sensornode 0640) and rewritten by <c>sudo ... passwd add</c> stays
    /// the group's: it was replaced by a root-only file, which the service could no longer read.
    /// </summary>
    [SkippableFact]
    public void A_rewritten_file_keeps_its_owner_group_and_group_read_permission()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && Environment.UserName == "root", "changing a file's group to another needs root");
        if (OperatingSystem.IsLinux())
        {
            AssertGroupKept();
        }
    }

    [UnsupportedOSPlatform("windows")]
    private static void AssertGroupKept()
    {
        string path = Path.Combine(Infrastructure.TestBroker.NewDataDirectory(), "users.txt");
        PasswordFile.Empty.With("alice", "pw").Save(path);
        const uint Daemon = 1;
        Assert.True(FileOwnership.TrySet(path, 0, Daemon));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        Assert.Null(PasswordFile.Load(path).With("bob", "pw").Save(path));

        Assert.True(FileOwnership.TryGet(path, out uint owner, out uint group));
        Assert.Equal((0u, Daemon), (owner, group));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
        Assert.True(PasswordFile.Load(path).Verify("bob", "pw"));
    }

    /// <summary>A mistyped users file must not mean "no users" in silence (Mosquitto refuses to start too).</summary>
    [Fact]
    public void A_missing_file_is_an_error_not_an_empty_file()
    {
        Assert.Throws<FileNotFoundException>(() => PasswordFile.Load(Path.Combine(Infrastructure.TestBroker.NewDataDirectory(), "none.txt")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    public void User_names_that_cannot_be_written_are_refused(string user)
    {
        Assert.Throws<ArgumentException>(() => PasswordFile.Empty.With(user, "pw"));
    }
}
