using System.Security.Cryptography;

namespace SensorNode.Broker.Security;

/// <summary>
/// Salted, slow password hashes: PBKDF2 with HMAC-SHA512, a 16-byte random salt and 210,000 iterations
/// (OWASP's figure for PBKDF2-SHA512), written as <c>$pbkdf2-sha512$ITERATIONS$SALT$HASH</c> (base64).
/// Verification compares in constant time, and also takes the hashes of Mosquitto's password files.
/// </summary>
public static class PasswordHasher
{
    public const int DefaultIterations = 210_000;
    private const string Scheme = "pbkdf2-sha512";
    private const string MosquittoPbkdf2 = "7";
    private const string MosquittoSha512 = "6";
    private const int SaltBytes = 16;
    private const int HashBytes = 64;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(SaltBytes);
        byte[] hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, HashBytes);
        return $"${Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when <paramref name="encoded"/> is well formed (the password file parser reports the rest).</summary>
    public static bool IsWellFormed(string encoded) => TryParse(encoded, out _, out _, out _, out _);

    /// <summary>
    /// Checks a password against our hash or one of Mosquitto's, so that a <c>mosquitto_passwd</c> file works unchanged:
    /// <c>$7$ITERATIONS$SALT$HASH</c> (PBKDF2-SHA512, its default) and <c>$6$SALT$HASH</c> (one salted SHA-512, its
    /// old default, as weak as it looks: re-set such users with <c>passwd add</c>).
    /// </summary>
    public static bool Verify(string password, string encoded)
    {
        if (!TryParse(encoded, out bool singleSha512, out int iterations, out byte[]? salt, out byte[]? expected))
        {
            return false;
        }

        byte[] actual = singleSha512
            ? SHA512.HashData([.. System.Text.Encoding.UTF8.GetBytes(password), .. salt])
            : Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static bool TryParse(string encoded, out bool singleSha512, out int iterations, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? salt, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? hash)
    {
        singleSha512 = false;
        iterations = 0;
        salt = null;
        hash = null;
        string[] parts = encoded.Split('$');
        if (parts.Length < 4 || parts[0].Length != 0)
        {
            return false;
        }

        // Ours asks for at least 1,000 iterations; Mosquitto's own default is 101, taken as it wrote it.
        string? iterationText;
        int minimumIterations;
        switch (parts[1])
        {
            case Scheme when parts.Length == 5:
                (iterationText, minimumIterations) = (parts[2], 1000);
                break;
            case MosquittoPbkdf2 when parts.Length == 5:
                (iterationText, minimumIterations) = (parts[2], 1);
                break;
            case MosquittoSha512 when parts.Length == 4:
                (singleSha512, iterationText, minimumIterations) = (true, null, 0);
                break;
            default:
                return false;
        }

        if (iterationText is not null
            && (!int.TryParse(iterationText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out iterations) || iterations < minimumIterations))
        {
            return false;
        }

        try
        {
            salt = Convert.FromBase64String(parts[^2]);
            hash = Convert.FromBase64String(parts[^1]);
            return salt.Length >= 8 && (parts[1] == Scheme ? hash.Length >= 32 : hash.Length == HashBytes);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
