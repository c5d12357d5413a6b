using System.Security.Cryptography;

namespace SensorNode.Broker.Security;

/// <summary>
/// Salted, slow password hashes: PBKDF2 with HMAC-SHA512, a 16-byte random salt and 210,000 iterations
/// (OWASP's figure for PBKDF2-SHA512), written as <c>$pbkdf2-sha512$ITERATIONS$SALT$HASH</c> (base64).
/// Verification compares in constant time.
/// </summary>
public static class PasswordHasher
{
    public const int DefaultIterations = 210_000;
    private const string Scheme = "pbkdf2-sha512";
    private const int SaltBytes = 16;
    private const int HashBytes = 64;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(SaltBytes);
        byte[] hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, HashBytes);
        return $"${Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when <paramref name="encoded"/> is well formed (the password file parser reports the rest).</summary>
    public static bool IsWellFormed(string encoded) => TryParse(encoded, out _, out _, out _);

    public static bool Verify(string password, string encoded)
    {
        if (!TryParse(encoded, out int iterations, out byte[]? salt, out byte[]? expected))
        {
            return false;
        }

        byte[] actual = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA512, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static bool TryParse(string encoded, out int iterations, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? salt, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? hash)
    {
        iterations = 0;
        salt = null;
        hash = null;
        string[] parts = encoded.Split('$');
        if (parts.Length != 5 || parts[0].Length != 0 || parts[1] != Scheme
            || !int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out iterations) || iterations < 1000)
        {
            return false;
        }

        try
        {
            salt = Convert.FromBase64String(parts[3]);
            hash = Convert.FromBase64String(parts[4]);
            return salt.Length >= 8 && hash.Length >= 32;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
