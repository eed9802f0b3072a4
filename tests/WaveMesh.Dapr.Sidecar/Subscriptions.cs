using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>One programmatic subscription as an app declared it on <c>GET /dapr/subscribe</c>.</summary>
public sealed record SubscriptionInfo(
    string PubsubName,
    string Topic,
    IReadOnlyList<RouteRule> Rules,
    string? DeadLetterTopic,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Metadata rawPayload=true: the app gets every message wrapped by the sidecar as data_base64.</summary>
    public bool RawPayload => CloudEvents.IsTrue(Metadata, "rawPayload");

    /// <summary>The path of the first rule that matches <paramref name="cloudEvent"/> (a rule without Match always matches).</summary>
    internal string? MatchRoute(JsonElement cloudEvent) =>
        Rules.FirstOrDefault(r => r.Condition is null || r.Condition.Evaluate(cloudEvent))?.Path;
}

/// <summary>A routing rule: a CEL-like <see cref="Match"/> over the CloudEvent (null = default route) and the app path.</summary>
public sealed record RouteRule(string? Match, string Path)
{
    internal RouteCondition? Condition { get; init; }
}

/// <summary>Reads the JSON an app returns from <c>GET /dapr/subscribe</c>, in both forms Dapr.AspNetCore emits.</summary>
internal static class SubscriptionParser
{
    // Go's encoding/json (daprd) matches field names case-insensitively.
    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    sealed class SubscriptionJson
    {
        [JsonPropertyName("pubsubname")] public string? PubsubName { get; set; }
        [JsonPropertyName("topic")] public string? Topic { get; set; }
        [JsonPropertyName("deadLetterTopic")] public string? DeadLetterTopic { get; set; }
        [JsonPropertyName("metadata")] public Dictionary<string, string>? Metadata { get; set; }
        [JsonPropertyName("route")] public string? Route { get; set; }
        [JsonPropertyName("routes")] public RoutesJson? Routes { get; set; }
    }

    sealed class RoutesJson
    {
        [JsonPropertyName("rules")] public List<RuleJson>? Rules { get; set; }
        [JsonPropertyName("default")] public string? Default { get; set; }
    }

    sealed class RuleJson
    {
        [JsonPropertyName("match")] public string? Match { get; set; }
        [JsonPropertyName("path")] public string? Path { get; set; }
    }

    public static List<SubscriptionInfo> Parse(string json, ICollection<string> warnings)
    {
        var items = string.IsNullOrWhiteSpace(json) ? [] : JsonSerializer.Deserialize<List<SubscriptionJson>>(json, Json) ?? [];
        var result = new List<SubscriptionInfo>();
        foreach (var s in items)
        {
            if (string.IsNullOrEmpty(s.PubsubName) || string.IsNullOrEmpty(s.Topic))
            {
                warnings.Add($"subscription without pubsubname or topic ignored: {JsonSerializer.Serialize(s)}");
                continue;
            }
            // As daprd: the rules in order, then the default route (routes.default, else the v1 route) as a catch-all.
            var rules = new List<RouteRule>();
            foreach (var r in s.Routes?.Rules ?? [])
            {
                if (string.IsNullOrEmpty(r.Match))
                    throw new InvalidOperationException($"subscription to {s.PubsubName}/{s.Topic}: missing expression in routing rule");
                rules.Add(new RouteRule(r.Match, r.Path ?? "") { Condition = RouteCondition.Parse(r.Match) });
            }
            var fallback = !string.IsNullOrEmpty(s.Routes?.Default) ? s.Routes!.Default : s.Route;
            if (!string.IsNullOrEmpty(fallback)) rules.Add(new RouteRule(null, fallback));
            result.Add(new SubscriptionInfo(s.PubsubName, s.Topic, rules,
                string.IsNullOrEmpty(s.DeadLetterTopic) ? null : s.DeadLetterTopic,
                s.Metadata ?? new Dictionary<string, string>()));
        }
        return result;
    }
}

/// <summary>
/// The small subset of CEL that routing rules use: <c>event.a.b</c> paths, string/number/bool/null literals,
/// == != &lt; &lt;= &gt; &gt;=, &amp;&amp;, ||, ! and parentheses. Anything else is refused when the subscription is read.
/// A path that does not exist compares as absent (never equal to a literal).
/// </summary>
internal abstract class RouteCondition
{
    public abstract bool Evaluate(JsonElement ce);

    public static RouteCondition Parse(string text)
    {
        var p = new Parser(text);
        var c = p.ParseOr();
        p.ExpectEnd();
        return c;
    }

    sealed class Or(RouteCondition a, RouteCondition b) : RouteCondition { public override bool Evaluate(JsonElement ce) => a.Evaluate(ce) || b.Evaluate(ce); }
    sealed class And(RouteCondition a, RouteCondition b) : RouteCondition { public override bool Evaluate(JsonElement ce) => a.Evaluate(ce) && b.Evaluate(ce); }
    sealed class Not(RouteCondition a) : RouteCondition { public override bool Evaluate(JsonElement ce) => !a.Evaluate(ce); }

    sealed class Truthy(Operand a) : RouteCondition
    {
        public override bool Evaluate(JsonElement ce) => a.Resolve(ce) is JsonElement { ValueKind: JsonValueKind.True };
    }

    sealed class Compare(Operand a, string op, Operand b) : RouteCondition
    {
        public override bool Evaluate(JsonElement ce)
        {
            var x = a.Resolve(ce);
            var y = b.Resolve(ce);
            if (x is null || y is null) return op == "!=" && !(x is null && y is null);
            var (vx, vy) = (x.Value, y.Value);
            if (vx.ValueKind == JsonValueKind.Number && vy.ValueKind == JsonValueKind.Number)
            {
                var (dx, dy) = (vx.GetDouble(), vy.GetDouble());
                return op switch { "==" => dx == dy, "!=" => dx != dy, "<" => dx < dy, "<=" => dx <= dy, ">" => dx > dy, _ => dx >= dy };
            }
            if (vx.ValueKind == JsonValueKind.String && vy.ValueKind == JsonValueKind.String)
            {
                var c = string.CompareOrdinal(vx.GetString(), vy.GetString());
                return op switch { "==" => c == 0, "!=" => c != 0, "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
            }
            bool same = vx.ValueKind == vy.ValueKind && (vx.ValueKind is JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null);
            return op switch { "==" => same, "!=" => !same, _ => false };
        }
    }

    abstract class Operand { public abstract JsonElement? Resolve(JsonElement ce); }

    sealed class Literal(JsonElement value) : Operand { public override JsonElement? Resolve(JsonElement ce) => value; }

    sealed class PathOperand(string[] segments) : Operand
    {
        public override JsonElement? Resolve(JsonElement ce)
        {
            var cur = ce;
            foreach (var s in segments)
            {
                if (cur.ValueKind != JsonValueKind.Object || !cur.TryGetProperty(s, out var next)) return null;
                cur = next;
            }
            return cur;
        }
    }

    sealed class Parser(string text)
    {
        int pos;

        public void ExpectEnd()
        {
            SkipSpace();
            if (pos != text.Length) throw Unsupported($"unexpected '{text[pos..]}'");
        }

        NotSupportedException Unsupported(string why) =>
            new($"routing rule '{text}' is beyond the CEL subset the test sidecar understands: {why}");

        void SkipSpace() { while (pos < text.Length && char.IsWhiteSpace(text[pos])) pos++; }

        bool Take(string token)
        {
            SkipSpace();
            if (string.CompareOrdinal(text, pos, token, 0, token.Length) != 0) return false;
            pos += token.Length;
            return true;
        }

        public RouteCondition ParseOr()
        {
            var left = ParseAnd();
            while (Take("||")) left = new Or(left, ParseAnd());
            return left;
        }

        RouteCondition ParseAnd()
        {
            var left = ParseUnary();
            while (Take("&&")) left = new And(left, ParseUnary());
            return left;
        }

        RouteCondition ParseUnary()
        {
            SkipSpace();
            if (pos < text.Length && text[pos] == '!' && (pos + 1 >= text.Length || text[pos + 1] != '='))
            {
                pos++;
                return new Not(ParseUnary());
            }
            if (Take("("))
            {
                var inner = ParseOr();
                if (!Take(")")) throw Unsupported("missing ')'");
                return inner;
            }
            var left = ParseOperand();
            foreach (var op in new[] { "==", "!=", "<=", ">=", "<", ">" })
                if (Take(op)) return new Compare(left, op, ParseOperand());
            return new Truthy(left);
        }

        Operand ParseOperand()
        {
            SkipSpace();
            if (pos >= text.Length) throw Unsupported("expression ends too early");
            char c = text[pos];
            if (c is '"' or '\'')
            {
                int end = text.IndexOf(c, pos + 1);
                if (end < 0 || text.IndexOf('\\', pos + 1, end - pos - 1) >= 0) throw Unsupported("string literal with escapes or without end");
                var s = text[(pos + 1)..end];
                pos = end + 1;
                return new Literal(JsonSerializer.SerializeToElement(s));
            }
            if (char.IsDigit(c) || c == '-')
            {
                int start = pos++;
                while (pos < text.Length && (char.IsDigit(text[pos]) || text[pos] is '.' or 'e' or 'E' or '+' or '-')) pos++;
                var number = text[start..pos];
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) throw Unsupported($"bad number {number}");
                return new Literal(JsonDocument.Parse(number).RootElement.Clone());
            }
            int idStart = pos;
            while (pos < text.Length && (char.IsLetterOrDigit(text[pos]) || text[pos] is '_' or '.')) pos++;
            var word = text[idStart..pos];
            switch (word)
            {
                case "true": return new Literal(JsonSerializer.SerializeToElement(true));
                case "false": return new Literal(JsonSerializer.SerializeToElement(false));
                case "null": return new Literal(JsonDocument.Parse("null").RootElement.Clone());
            }
            if (!word.StartsWith("event.", StringComparison.Ordinal) || word.EndsWith('.') || word.Contains("..", StringComparison.Ordinal))
                throw Unsupported(word.Length == 0 ? $"unexpected '{text[pos..]}'" : $"'{word}' is not an event.<field> path");
            return new PathOperand(word["event.".Length..].Split('.'));
        }
    }
}
