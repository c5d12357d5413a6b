using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SensorNode.Broker.Security;

/// <summary>
/// The CRL file of a TLS listener (Mosquitto's <c>crlfile</c>): one or more X.509 CRLs (PEM, or one DER), each
/// checked against its issuer's signature. .NET on Linux can only take CRLs from its own download cache, so the file is
/// read here. As OpenSSL does for Mosquitto, a client certificate is refused when it is revoked, when no CRL of its
/// issuer is in the file, or when that CRL has passed its Next Update: with a CRL file, only certificates known not to
/// be revoked get in.
/// </summary>
public sealed class CertificateRevocationLists
{
    private readonly List<RevocationList> _lists;

    private CertificateRevocationLists(List<RevocationList> lists) => _lists = lists;

    public int Count => _lists.Count;

    /// <summary>The earliest Next Update already passed, if a CRL in the file is out of date.</summary>
    public DateTimeOffset? ExpiredNextUpdate(DateTimeOffset now)
    {
        DateTimeOffset? earliest = null;
        foreach (RevocationList list in _lists)
        {
            if (list.NextUpdate is { } next && next < now && (earliest is null || next < earliest))
            {
                earliest = next;
            }
        }

        return earliest;
    }

    /// <summary>
    /// Reads <paramref name="path"/>; a CRL whose issuer is in <paramref name="authorities"/> must carry its signature
    /// (others are checked against the issuer a handshake's chain shows). Throws with the reason when the file holds
    /// no CRL, cannot be parsed or a signature does not verify.
    /// </summary>
    public static CertificateRevocationLists Load(string path, X509Certificate2Collection authorities)
    {
        byte[] raw = File.ReadAllBytes(path);
        var lists = new List<RevocationList>();
        ReadOnlySpan<char> text = System.Text.Encoding.ASCII.GetString(raw);
        bool pem = false;
        while (PemEncoding.TryFind(text, out PemFields fields))
        {
            if (text[fields.Label].SequenceEqual("X509 CRL"))
            {
                pem = true;
                lists.Add(RevocationList.Parse(Convert.FromBase64String(text[fields.Base64Data].ToString()), lists.Count + 1));
            }

            text = text[fields.Location.End..];
        }

        if (!pem)
        {
            if (raw.Length == 0 || raw[0] != 0x30)
            {
                throw new InvalidOperationException("no CRL in the file (expected PEM '-----BEGIN X509 CRL-----' blocks or one DER CRL)");
            }

            lists.Add(RevocationList.Parse(raw, 1));
        }

        foreach (RevocationList list in lists)
        {
            foreach (X509Certificate2 authority in authorities)
            {
                if (list.IssuedBy(authority) && !list.IsSignedBy(authority))
                {
                    throw new InvalidOperationException($"CRL {list.Index} (issuer {authority.Subject}) is not signed by that CA's key");
                }
            }
        }

        return new CertificateRevocationLists(lists);
    }

    /// <summary>
    /// Null when <paramref name="certificate"/>, issued by <paramref name="issuer"/> (the next certificate of its
    /// verified chain), is known not to be revoked; otherwise why it is refused.
    /// </summary>
    public string? Refusal(X509Certificate2 certificate, X509Certificate2 issuer, DateTimeOffset now)
    {
        RevocationList? current = null;
        foreach (RevocationList list in _lists)
        {
            if (list.IssuedBy(issuer) && list.IsSignedBy(issuer) && (current is null || list.ThisUpdate > current.ThisUpdate))
            {
                current = list;
            }
        }

        if (current is null)
        {
            return $"the CRL file has no CRL from its issuer {issuer.Subject}";
        }

        if (current.NextUpdate is { } next && next < now)
        {
            return $"the CRL from {issuer.Subject} expired at {next:u} (its Next Update); a new one is needed";
        }

        if (current.ThisUpdate > now)
        {
            return $"the CRL from {issuer.Subject} is not valid before {current.ThisUpdate:u}";
        }

        return current.IsRevoked(certificate) ? $"certificate serial {certificate.SerialNumber} is revoked by the CRL from {issuer.Subject}" : null;
    }

    /// <summary>One CRL (RFC 5280 §5.1): issuer, validity, revoked serial numbers, and what its signature covers.</summary>
    private sealed class RevocationList
    {
        private readonly byte[] _issuer;
        private readonly HashSet<BigInteger> _revoked;
        private readonly byte[] _signed;
        private readonly byte[] _signature;
        private readonly HashAlgorithmName _hash;
        private readonly bool _rsa;

        // Issuers whose key was checked against the signature (by thumbprint), with the answer.
        private readonly Dictionary<string, bool> _verified = [];

        private RevocationList(int index, byte[] issuer, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate, HashSet<BigInteger> revoked, byte[] signed, (HashAlgorithmName Hash, bool Rsa) algorithm, byte[] signature)
        {
            Index = index;
            _issuer = issuer;
            ThisUpdate = thisUpdate;
            NextUpdate = nextUpdate;
            _revoked = revoked;
            _signed = signed;
            (_hash, _rsa) = algorithm;
            _signature = signature;
        }

        public int Index { get; }

        public DateTimeOffset ThisUpdate { get; }

        public DateTimeOffset? NextUpdate { get; }

        public static RevocationList Parse(byte[] der, int index)
        {
            try
            {
                var outer = new AsnReader(der, AsnEncodingRules.DER);
                AsnReader certificateList = outer.ReadSequence();
                byte[] signed = certificateList.PeekEncodedValue().ToArray();
                AsnReader tbs = certificateList.ReadSequence();
                (HashAlgorithmName, bool) algorithm = SignatureAlgorithm(certificateList.ReadSequence().ReadObjectIdentifier(), index);
                byte[] signature = certificateList.ReadBitString(out _);

                if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
                {
                    tbs.ReadInteger();
                }

                tbs.ReadSequence();
                byte[] issuer = tbs.ReadEncodedValue().ToArray();
                DateTimeOffset thisUpdate = ReadTime(tbs);
                DateTimeOffset? nextUpdate = tbs.HasData && IsTime(tbs.PeekTag()) ? ReadTime(tbs) : null;
                var revoked = new HashSet<BigInteger>();
                if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
                {
                    AsnReader entries = tbs.ReadSequence();
                    while (entries.HasData)
                    {
                        AsnReader entry = entries.ReadSequence();
                        revoked.Add(entry.ReadInteger());
                    }
                }

                return new RevocationList(index, issuer, thisUpdate, nextUpdate, revoked, signed, algorithm, signature);
            }
            catch (AsnContentException ex)
            {
                throw new InvalidOperationException($"CRL {index} is not a valid DER X.509 CRL: {ex.Message}", ex);
            }
        }

        private static bool IsTime(Asn1Tag tag) =>
            tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

        private static DateTimeOffset ReadTime(AsnReader reader) =>
            reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

        public bool IssuedBy(X509Certificate2 issuer) => issuer.SubjectName.RawData.AsSpan().SequenceEqual(_issuer);

        public bool IsRevoked(X509Certificate2 certificate) =>
            _revoked.Contains(new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true));

        public bool IsSignedBy(X509Certificate2 issuer)
        {
            lock (_verified)
            {
                if (!_verified.TryGetValue(issuer.Thumbprint, out bool verified))
                {
                    verified = Verify(issuer);
                    _verified[issuer.Thumbprint] = verified;
                }

                return verified;
            }
        }

        private bool Verify(X509Certificate2 issuer)
        {
            try
            {
                if (_rsa)
                {
                    using RSA? key = issuer.GetRSAPublicKey();
                    return key is not null && key.VerifyData(_signed, _signature, _hash, RSASignaturePadding.Pkcs1);
                }

                using ECDsa? ec = issuer.GetECDsaPublicKey();
                return ec is not null && ec.VerifyData(_signed, _signature, _hash, DSASignatureFormat.Rfc3279DerSequence);
            }
            catch (CryptographicException)
            {
                return false;
            }
        }

        private static (HashAlgorithmName Hash, bool Rsa) SignatureAlgorithm(string oid, int index) => oid switch
        {
            "1.2.840.113549.1.1.5" => (HashAlgorithmName.SHA1, true),
            "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, true),
            "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, true),
            "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, true),
            "1.2.840.10045.4.1" => (HashAlgorithmName.SHA1, false),
            "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, false),
            "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, false),
            "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, false),
            _ => throw new InvalidOperationException($"CRL {index} is signed with algorithm {oid}, which is not supported (RSA PKCS#1 v1.5 or ECDSA, with SHA-1/256/384/512, are)"),
        };
    }
}
