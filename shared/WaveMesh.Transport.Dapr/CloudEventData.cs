using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace WaveMesh.Transport.Dapr;

/// <summary>
/// The payload of a delivery from daprd: POSTed as application/cloudevents+json with the published JSON in
/// <c>data</c> (or base64 in <c>data_base64</c>), as daprd builds envelopes (components-contrib pubsub/envelope.go).
/// A body that is not JSON, or a CloudEvent without data, is refused with an exception that says why.
/// </summary>
public static class CloudEventData
{
    /// <summary>Largest delivery read; a job or an event is a few kilobytes.</summary>
    public const int MaxBytes = 4 * 1024 * 1024;

    public static async Task<(string Data, string? Type)> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > MaxBytes) throw new InvalidDataException($"the delivery is larger than {MaxBytes} bytes");
            buffer.Write(chunk, 0, n);
        }
        return Read(buffer.ToArray(), request.ContentType);
    }

    public static (string Data, string? Type) Read(byte[] body, string? contentType)
    {
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        bool cloudEvent = (contentType ?? "").StartsWith("application/cloudevents+json", StringComparison.OrdinalIgnoreCase)
                          || root.ValueKind == JsonValueKind.Object && root.TryGetProperty("specversion", out _);
        if (!cloudEvent) return (root.GetRawText(), null);
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("a CloudEvent must be a JSON object");
        string? type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (root.TryGetProperty("data", out var data) && data.ValueKind != JsonValueKind.Null)
            // daprd keeps text it could not parse as JSON as a JSON string.
            return (data.ValueKind == JsonValueKind.String ? data.GetString()! : data.GetRawText(), type);
        if (root.TryGetProperty("data_base64", out var b64) && b64.ValueKind == JsonValueKind.String)
            return (Encoding.UTF8.GetString(Convert.FromBase64String(b64.GetString()!)), type);
        throw new InvalidDataException("the CloudEvent has no data");
    }
}
