using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SensorNode.Broker.Security;

/// <summary>
/// The CRL file of a TLS listener (Mosquitto's <c>crlfile</c>): one or more X.509 CRLs (PEM, or one DER), each
/// checked against its issuer's signature. .NET on Linux can only take CRLs from its own download cache, so the file is
/// read here. As OpenSSL does for Mosquitto, a client certificate is refused when it is revoked, when no complete CRL
/// of its issuer is in force in the file, or when that CRL has passed its Next Update: with a CRL file, only
/// certificates known not to be revoked get in.
/// </summary>
public sealed class CertificateRevocationLists
{
    private readonly List<RevocationList> _lists;

    private CertificateRevocationLists(List<RevocationList> lists) => _lists = lists;

    public int Count => _lists.Count;

    /// <summary>The earliest Next Update already passed by the newest complete CRL of an issuer, if any is out of date.</summary>
    public DateTimeOffset? ExpiredNextUpdate(DateTimeOffset now)
    {
        var newest = new Dictionary<string, RevocationList>();
        foreach (RevocationList list in _lists)
        {
            if (list.IsComplete && (!newest.TryGetValue(list.IssuerKey, out RevocationList? seen) || list.ThisUpdate > seen.ThisUpdate))
            {
                newest[list.IssuerKey] = list;
            }
        }

        DateTimeOffset? earliest = null;
        foreach (RevocationList list in newest.Values)
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

        // A CA file may hold two certificates of one CA (a key rollover): a CRL needs to be signed by one of them.
        foreach (RevocationList list in lists)
        {
            X509Certificate2? named = null;
            bool signed = false;
            foreach (X509Certificate2 authority in authorities)
            {
                if (list.IssuedBy(authority))
                {
                    named = authority;
                    signed |= list.IsSignedBy(authority);
                }
            }

            if (named is not null && !signed)
            {
                throw new InvalidOperationException($"CRL {list.Index} (issuer {named.Subject}) is not signed by that CA's key, or that CA may not sign CRLs");
            }
        }

        return new CertificateRevocationLists(lists);
    }

    /// <summary>
    /// Null when <paramref name="certificate"/>, issued by <paramref name="issuer"/> (the next certificate of its
    /// verified chain), is known not to be revoked; otherwise why it is refused.
    /// </summary>
    /// <remarks>
    /// Currency is judged by the newest complete CRL of the issuer already in force (a delta CRL, or one that covers only
    /// some certificates or reasons, cannot say a certificate is not revoked); revocations are taken from every CRL of
    /// the issuer in the file, so that a newer CRL of a narrower scope never hides one.
    /// </remarks>
    public string? Refusal(X509Certificate2 certificate, X509Certificate2 issuer, DateTimeOffset now)
    {
        RevocationList? current = null;
        bool revoked = false;
        foreach (RevocationList list in _lists)
        {
            if (!list.IssuedBy(issuer) || !list.IsSignedBy(issuer))
            {
                continue;
            }

            revoked |= list.IsRevoked(certificate);
            if (list.IsComplete && list.ThisUpdate <= now && (current is null || list.ThisUpdate > current.ThisUpdate))
            {
                current = list;
            }
        }

        if (revoked)
        {
            return $"certificate serial {certificate.SerialNumber} is revoked by the CRL from {issuer.Subject}";
        }

        if (current is null)
        {
            return $"the CRL file has no complete CRL in force from its issuer {issuer.Subject}";
        }

        if (current.NextUpdate is { } next && next < now)
        {
            return $"the CRL from {issuer.Subject} expired at {next:u} (its Next Update); a new one is needed";
        }

        return null;
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

        /// <summary>Whether the CRL lists every revoked end-entity certificate of its issuer (not a delta, not narrowed).</summary>
        public bool IsComplete { get; private init; }

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

                bool complete = true;
                if (tbs.HasData)
                {
                    complete = ReadExtensions(tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence(), index);
                }

                return new RevocationList(index, issuer, thisUpdate, nextUpdate, revoked, signed, algorithm, signature) { IsComplete = complete };
            }
            catch (AsnContentException ex)
            {
                throw new InvalidOperationException($"CRL {index} is not a valid DER X.509 CRL: {ex.Message}", ex);
            }
        }

        /// <summary>
        /// The CRL's extensions (RFC 5280 §5.2): false when it is a delta CRL or its Issuing Distribution Point limits it
        /// to CA or attribute certificates, some reasons, or other issuers. A critical extension not understood here
        /// makes the CRL unusable, as RFC 5280 requires, and it is refused rather than half read.
        /// </summary>
        private static bool ReadExtensions(AsnReader extensions, int index)
        {
            bool complete = true;
            while (extensions.HasData)
            {
                AsnReader extension = extensions.ReadSequence();
                string oid = extension.ReadObjectIdentifier();
                bool critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
                byte[] value = extension.ReadOctetString();
                switch (oid)
                {
                    case "2.5.29.27": // deltaCRLIndicator
                        complete = false;
                        break;
                    case "2.5.29.28": // issuingDistributionPoint
                        complete &= CoversEndEntities(value);
                        break;
                    case "2.5.29.20" or "2.5.29.35" or "2.5.29.18" or "2.5.29.46" or "1.3.6.1.5.5.7.1.1":
                        break; // cRLNumber, authorityKeyIdentifier, issuerAltName, freshestCRL, authorityInfoAccess
                    default:
                        if (critical)
                        {
                            throw new InvalidOperationException($"CRL {index} has a critical extension {oid} that is not supported");
                        }

                        break;
                }
            }

            return complete;
        }

        // IssuingDistributionPoint: onlyContainsCACerts [2], onlySomeReasons [3], indirectCRL [4] and
        // onlyContainsAttributeCerts [5] are left out of DER when false, so being there narrows the CRL.
        private static bool CoversEndEntities(byte[] value)
        {
            AsnReader point = new AsnReader(value, AsnEncodingRules.DER).ReadSequence();
            while (point.HasData)
            {
                Asn1Tag tag = point.PeekTag();
                if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue is 2 or 3 or 4 or 5)
                {
                    return false;
                }

                point.ReadEncodedValue();
            }

            return true;
        }

        private static bool IsTime(Asn1Tag tag) =>
            tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

        private static DateTimeOffset ReadTime(AsnReader reader) =>
            reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

        /// <summary>The issuer's name as a dictionary key.</summary>
        public string IssuerKey => Convert.ToHexString(_issuer);

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
            if (issuer.Extensions["2.5.29.15"] is X509KeyUsageExtension usage && (usage.KeyUsages & X509KeyUsageFlags.CrlSign) == 0)
            {
                return false;
            }

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
