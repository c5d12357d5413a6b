using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Security;

/// <summary>Where an MQTT 5 enhanced authentication exchange stands after a step (§4.12).</summary>
public enum AuthOutcome
{
    /// <summary>Send the data to the client in AUTH (0x18 Continue authentication) and wait for its answer.</summary>
    Continue,

    /// <summary>The client is authenticated; the data (if any) goes in CONNACK or AUTH 0x00.</summary>
    Success,

    /// <summary>Refused: CONNACK (or, when re-authenticating, DISCONNECT) with <see cref="AuthStep.FailureReason"/>.</summary>
    Failure,
}

/// <summary>One step of an exchange: what to do next and the Authentication Data to send with it.</summary>
public readonly record struct AuthStep(AuthOutcome Outcome, byte[]? Data = null, ReasonCode FailureReason = ReasonCode.NotAuthorized)
{
    public static AuthStep Continue(byte[] challenge) => new(AuthOutcome.Continue, challenge);

    public static AuthStep Success(byte[]? data = null) => new(AuthOutcome.Success, data);

    public static AuthStep Fail(ReasonCode reason = ReasonCode.NotAuthorized) => new(AuthOutcome.Failure, null, reason);
}

/// <summary>One client's run through a mechanism, from CONNECT (or a re-authentication) to success or failure.</summary>
public interface IAuthExchange
{
    /// <summary>Takes the client's Authentication Data (from CONNECT, then from each AUTH) and says what follows.</summary>
    AuthStep Next(byte[]? clientData);
}

/// <summary>
/// A pluggable MQTT 5 enhanced authentication mechanism (§4.12), chosen by the Authentication Method a client
/// names in CONNECT. Register instances in <see cref="BrokerOptions.EnhancedAuthenticators"/>.
/// </summary>
public interface IEnhancedAuthenticator
{
    /// <summary>The Authentication Method name, e.g. "SCRAM-SHA-256".</summary>
    string Method { get; }

    IAuthExchange Begin(string clientId, string? userName);
}
