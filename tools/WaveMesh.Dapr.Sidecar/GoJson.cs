using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>
/// The parts of Go's encoding/json that decide what daprd puts on the wire and how it reads what it gets back:
/// <c>json.Decoder.Decode</c> reads only the first JSON value of its input, <c>json.Unmarshal</c> needs the whole input
/// to be one value, duplicate keys keep the last one, and <c>json.Marshal</c> writes map keys sorted and escapes
/// &lt; &gt; &amp; U+2028 U+2029 (Go src/encoding/json/encode.go, appendString / mapEncoder).
/// </summary>
internal static class GoJson
{
    /// <summary>
    /// <c>json.NewDecoder(r).Decode(&amp;v)</c>: the first JSON value of <paramref name="data"/>; whatever follows it is
    /// never read. False with <paramref name="eof"/> when there is no value at all (io.EOF), false without it on a syntax error.
    /// </summary>
    public static bool TryDecodeFirst(ReadOnlySpan<byte> data, out JsonElement value, out bool eof)
    {
        value = default;
        eof = false;
        var reader = new Utf8JsonReader(data, new JsonReaderOptions { AllowMultipleValues = true });
        try
        {
            if (!reader.Read())
            {
                eof = true;
                return false;
            }
            using var doc = JsonDocument.ParseValue(ref reader);
            value = doc.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary><c>json.Unmarshal</c>: the whole input must be exactly one JSON value (whitespace around it allowed).</summary>
    public static bool TryUnmarshal(ReadOnlySpan<byte> data, out JsonElement value)
    {
        value = default;
        try
        {
            var reader = new Utf8JsonReader(data);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (reader.Read()) return false;
            value = doc.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>A mutable copy of a decoded value; for duplicate keys the last one wins, as when Go decodes into a map.</summary>
    public static JsonNode? ToNode(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var o = new JsonObject();
                foreach (var p in e.EnumerateObject()) o[p.Name] = ToNode(p.Value);
                return o;
            case JsonValueKind.Array:
                var a = new JsonArray();
                foreach (var item in e.EnumerateArray()) a.Add(ToNode(item));
                return a;
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            default:
                return JsonValue.Create(e);
        }
    }

    /// <summary><c>json.Marshal</c> of a value decoded into Go maps: compact, map keys sorted bytewise, Go's string escaping.</summary>
    public static byte[] Marshal(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    static readonly Comparison<string> Utf8Order = (a, b) =>
        Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b));

    static void Write(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                return;
            case JsonObject o:
                var keys = o.Select(p => p.Key).ToList();
                keys.Sort(Utf8Order);
                sb.Append('{');
                for (int i = 0; i < keys.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    WriteString(sb, keys[i]);
                    sb.Append(':');
                    Write(sb, o[keys[i]]);
                }
                sb.Append('}');
                return;
            case JsonArray a:
                sb.Append('[');
                for (int i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(sb, a[i]);
                }
                sb.Append(']');
                return;
            default:
                switch (node.GetValueKind())
                {
                    case JsonValueKind.String: WriteString(sb, node.GetValue<string>()); return;
                    case JsonValueKind.True: sb.Append("true"); return;
                    case JsonValueKind.False: sb.Append("false"); return;
                    case JsonValueKind.Null: sb.Append("null"); return;
                    // A json.Number (daprd decodes data with UseNumber) is written back exactly as it was read.
                    default: sb.Append(node.ToJsonString()); return;
                }
        }
    }

    const string Hex = "0123456789abcdef";

    static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '<' or '>' or '&' or '\u2028' or '\u2029' or < ' ':
                    sb.Append("\\u").Append(Hex[c >> 12]).Append(Hex[(c >> 8) & 0xF]).Append(Hex[(c >> 4) & 0xF]).Append(Hex[c & 0xF]);
                    break;
                default: sb.Append(c); break;
            }
        }
        sb.Append('"');
    }
}
