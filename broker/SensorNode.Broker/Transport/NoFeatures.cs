using Microsoft.AspNetCore.Http.Features;

namespace SensorNode.Broker.Transport;

/// <summary>An empty, read-only feature collection shared by the plain-TCP connections.</summary>
internal sealed class NoFeatures : IFeatureCollection
{
    public static readonly NoFeatures Instance = new();

    public bool IsReadOnly => true;

    public int Revision => 0;

    public object? this[Type key]
    {
        get => null;
        set => throw new NotSupportedException("a plain socket connection has no features");
    }

    public TFeature? Get<TFeature>() => default;

    public void Set<TFeature>(TFeature? instance) => throw new NotSupportedException("a plain socket connection has no features");

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator() => Enumerable.Empty<KeyValuePair<Type, object>>().GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
