using System.Globalization;
using System.Text.Json;

namespace WaveMesh.Dapr.Sidecar;

/// <summary>One programmatic subscription as an app declared it on <c>GET /dapr/subscribe</c>.</summary>
public sealed record SubscriptionInfo(
    string PubsubName,
    string Topic,
    IReadOnlyList<RouteRule> Rules,
    string? DeadLetterTopic,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Metadata rawPayload is a true value (Go's strconv.ParseBool): the app gets every message wrapped by the sidecar as data_base64.</summary>
    public bool RawPayload => CloudEvents.IsRawPayload(Metadata, out _);

    /// <summary>
    /// daprd: pkg/runtime/subscription/subscription.go 362-400 (findMatchingRoute / matchRoutingRule): the first rule
    /// whose match is true (a rule without match always matches); null when none does; an evaluation error (a missing
    /// key, a non-boolean result) is an error, not a non-match.
    /// </summary>
    internal string? MatchRoute(JsonElement cloudEvent, out string? error)
    {
        error = null;
        foreach (var rule in Rules)
        {
            if (rule.Condition is null) return rule.Path;
            var result = rule.Condition.Evaluate(cloudEvent);
            if (result.Error is not null)
            {
                error = result.Error;
                return null;
            }
            if (result.Value) return rule.Path;
        }
        return null;
    }
}

/// <summary>A routing rule: a CEL <see cref="Match"/> over the CloudEvent (null = always matches) and the app path.</summary>
public sealed record RouteRule(string? Match, string Path)
{
    internal RouteCondition? Condition { get; init; }
}

/// <summary>
/// Reads what an app answers on <c>GET /dapr/subscribe</c> the way daprd does
/// (dapr: pkg/runtime/pubsub/subscriptions.go 131-212): Go's json.Decoder (first JSON value only, keys matched
/// case-insensitively, the last duplicate wins, a value of the wrong type fails the whole answer).
/// </summary>
internal static class SubscriptionParser
{
    sealed class DecodeError(string message) : Exception(message);

    /// <summary>The subscriptions, or null when daprd would have failed to read them (then it subscribes to nothing).</summary>
    public static List<SubscriptionInfo>? Parse(byte[] body, ICollection<string> warnings, string appId)
    {
        // subscriptions.go 138-143: an empty body (io.EOF) is no subscriptions; any other decode error fails them all.
        if (!GoJson.TryDecodeFirst(body, out var root, out var eof))
        {
            if (eof) return [];
            warnings.Add($"app {appId}: error deserializing /dapr/subscribe (invalid JSON); the app has no subscriptions");
            return null;
        }
        var result = new List<SubscriptionInfo>();
        try
        {
            if (root.ValueKind == JsonValueKind.Null) return result;
            if (root.ValueKind != JsonValueKind.Array) throw new DecodeError($"cannot unmarshal {Kind(root)} into []SubscriptionJSON");
            foreach (var item in root.EnumerateArray())
            {
                string pubsub = "", topic = "", deadLetter = "", route = "", defaultRoute = "";
                Dictionary<string, string>? metadata = null;
                var rules = new List<(string Match, string Path)>();
                bool bulk = false;
                if (item.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null)) throw new DecodeError($"cannot unmarshal {Kind(item)} into SubscriptionJSON");
                if (item.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in item.EnumerateObject())
                    {
                        switch (p.Name.ToLowerInvariant())
                        {
                            case "pubsubname": Str(p.Value, ref pubsub); break;
                            case "topic": Str(p.Value, ref topic); break;
                            case "deadlettertopic": Str(p.Value, ref deadLetter); break;
                            case "route": Str(p.Value, ref route); break;
                            case "metadata":
                                if (p.Value.ValueKind == JsonValueKind.Null) break;
                                if (p.Value.ValueKind != JsonValueKind.Object) throw new DecodeError("metadata is not an object");
                                metadata ??= new Dictionary<string, string>(StringComparer.Ordinal);
                                foreach (var m in p.Value.EnumerateObject())
                                {
                                    var v = "";
                                    Str(m.Value, ref v);
                                    metadata[m.Name] = v;
                                }
                                break;
                            case "routes":
                                if (p.Value.ValueKind == JsonValueKind.Null) break;
                                if (p.Value.ValueKind != JsonValueKind.Object) throw new DecodeError("routes is not an object");
                                foreach (var r in p.Value.EnumerateObject())
                                {
                                    switch (r.Name.ToLowerInvariant())
                                    {
                                        case "default": Str(r.Value, ref defaultRoute); break;
                                        case "rules":
                                            if (r.Value.ValueKind == JsonValueKind.Null) break;
                                            if (r.Value.ValueKind != JsonValueKind.Array) throw new DecodeError("routes.rules is not an array");
                                            rules.Clear();
                                            foreach (var rule in r.Value.EnumerateArray())
                                            {
                                                if (rule.ValueKind != JsonValueKind.Object) throw new DecodeError("a routing rule is not an object");
                                                string match = "", path = "";
                                                foreach (var f in rule.EnumerateObject())
                                                {
                                                    if (f.NameEquals("match") || f.Name.Equals("match", StringComparison.OrdinalIgnoreCase)) Str(f.Value, ref match);
                                                    else if (f.Name.Equals("path", StringComparison.OrdinalIgnoreCase)) Str(f.Value, ref path);
                                                }
                                                rules.Add((match, path));
                                            }
                                            break;
                                    }
                                }
                                break;
                            case "bulksubscribe":
                                if (p.Value.ValueKind == JsonValueKind.Object && p.Value.EnumerateObject()
                                        .Any(f => f.Name.Equals("enabled", StringComparison.OrdinalIgnoreCase) && f.Value.ValueKind == JsonValueKind.True))
                                    bulk = true;
                                break;
                        }
                    }
                }

                // subscriptions.go 149-173, CreateRoutingRule 306-320: the rules in order (an empty or blank match is
                // a catch-all), then routes.default, else the v1 route, as a rule without match.
                var built = new List<RouteRule>();
                foreach (var (match, path) in rules)
                {
                    var trimmed = match.Trim();
                    built.Add(trimmed.Length == 0
                        ? new RouteRule(null, path)
                        : new RouteRule(trimmed, path) { Condition = RouteCondition.Parse(trimmed) });
                }
                if (defaultRoute.Length > 0) built.Add(new RouteRule(null, defaultRoute));
                else if (route.Length > 0) built.Add(new RouteRule(null, route));

                // subscriptions.go 201-212 (filterSubscriptions): no rule at all -> dropped with a warning.
                if (built.Count == 0)
                {
                    warnings.Add($"app {appId}: topic {topic} has an empty routes. removing from subscriptions list");
                    continue;
                }
                if (bulk) warnings.Add($"app {appId}: bulkSubscribe on {pubsub}/{topic} is not modelled by the test sidecar; delivering one message at a time");
                result.Add(new SubscriptionInfo(pubsub, topic, built, deadLetter.Length == 0 ? null : deadLetter,
                    metadata ?? new Dictionary<string, string>()));
            }
        }
        catch (DecodeError e)
        {
            warnings.Add($"app {appId}: error deserializing /dapr/subscribe: {e.Message}; the app has no subscriptions");
            return null;
        }
        return result;
    }

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        _ => "bool",
    };

    /// <summary>A Go string field: a string sets it, null leaves it, anything else is an UnmarshalTypeError.</summary>
    static void Str(JsonElement value, ref string target)
    {
        if (value.ValueKind == JsonValueKind.String) target = value.GetString() ?? "";
        else if (value.ValueKind != JsonValueKind.Null) throw new DecodeError($"cannot unmarshal {Kind(value)} into a string field");
    }
}

/// <summary>The result of evaluating a CEL expression: a value, or an evaluation error.</summary>
internal readonly record struct CelResult(bool Value, string? Error)
{
    public static CelResult Of(bool value) => new(value, null);
    public static CelResult Fail(string error) => new(false, error);
}

/// <summary>
/// The subset of CEL (cel-go v0.20.1, dapr's go.mod line 24) that routing rules use: <c>event.a.b</c> paths,
/// string/number/bool/null literals, == != &lt; &lt;= &gt; &gt;=, &amp;&amp;, ||, ! and parentheses. Anything else is refused
/// when the subscription is read. Evaluation follows CEL: selecting a key that does not exist is an error ("no such
/// key"), ordering values of different types is an error ("no such overload"), equality across types is false, and
/// &amp;&amp; / || absorb an error when the other side decides the result.
/// </summary>
internal abstract class RouteCondition
{
    public abstract CelResult Evaluate(JsonElement ce);

    public static RouteCondition Parse(string text)
    {
        var p = new Parser(text);
        var c = p.ParseOr();
        p.ExpectEnd();
        return c;
    }

    sealed class Or(RouteCondition a, RouteCondition b) : RouteCondition
    {
        public override CelResult Evaluate(JsonElement ce)
        {
            var x = a.Evaluate(ce);
            if (x.Error is null && x.Value) return x;
            var y = b.Evaluate(ce);
            if (y.Error is null && y.Value) return y;
            return x.Error is not null ? x : y;
        }
    }

    sealed class And(RouteCondition a, RouteCondition b) : RouteCondition
    {
        public override CelResult Evaluate(JsonElement ce)
        {
            var x = a.Evaluate(ce);
            if (x.Error is null && !x.Value) return x;
            var y = b.Evaluate(ce);
            if (y.Error is null && !y.Value) return y;
            return x.Error is not null ? x : y;
        }
    }

    sealed class Not(RouteCondition a) : RouteCondition
    {
        public override CelResult Evaluate(JsonElement ce)
        {
            var x = a.Evaluate(ce);
            return x.Error is not null ? x : CelResult.Of(!x.Value);
        }
    }

    sealed class Truthy(Operand a) : RouteCondition
    {
        public override CelResult Evaluate(JsonElement ce)
        {
            var (v, error) = a.Resolve(ce);
            if (error is not null) return CelResult.Fail(error);
            return v.ValueKind switch
            {
                JsonValueKind.True => CelResult.Of(true),
                JsonValueKind.False => CelResult.Of(false),
                _ => CelResult.Fail("the result of match expression was not a boolean"),
            };
        }
    }

    sealed class Compare(Operand a, string op, Operand b) : RouteCondition
    {
        public override CelResult Evaluate(JsonElement ce)
        {
            var (x, ex) = a.Resolve(ce);
            if (ex is not null) return CelResult.Fail(ex);
            var (y, ey) = b.Resolve(ce);
            if (ey is not null) return CelResult.Fail(ey);
            if (x.ValueKind == JsonValueKind.Number && y.ValueKind == JsonValueKind.Number)
            {
                var (dx, dy) = (x.GetDouble(), y.GetDouble());
                return CelResult.Of(op switch { "==" => dx == dy, "!=" => dx != dy, "<" => dx < dy, "<=" => dx <= dy, ">" => dx > dy, _ => dx >= dy });
            }
            if (x.ValueKind == JsonValueKind.String && y.ValueKind == JsonValueKind.String)
            {
                var c = string.CompareOrdinal(x.GetString(), y.GetString());
                return CelResult.Of(op switch { "==" => c == 0, "!=" => c != 0, "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 });
            }
            bool xb = x.ValueKind is JsonValueKind.True or JsonValueKind.False, yb = y.ValueKind is JsonValueKind.True or JsonValueKind.False;
            if (xb && yb)
            {
                int c = x.GetBoolean().CompareTo(y.GetBoolean());
                return CelResult.Of(op switch { "==" => c == 0, "!=" => c != 0, "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 });
            }
            if (op is "==" or "!=")
            {
                bool same = (x.ValueKind == JsonValueKind.Null && y.ValueKind == JsonValueKind.Null) ||
                            (x.ValueKind is JsonValueKind.Object or JsonValueKind.Array && x.ValueKind == y.ValueKind && x.GetRawText() == y.GetRawText());
                return CelResult.Of(op == "==" ? same : !same);
            }
            return CelResult.Fail($"no such overload: {x.ValueKind} {op} {y.ValueKind}");
        }
    }

    abstract class Operand { public abstract (JsonElement Value, string? Error) Resolve(JsonElement ce); }

    sealed class Literal(JsonElement value) : Operand { public override (JsonElement, string?) Resolve(JsonElement ce) => (value, null); }

    sealed class PathOperand(string[] segments) : Operand
    {
        public override (JsonElement, string?) Resolve(JsonElement ce)
        {
            var cur = ce;
            foreach (var s in segments)
            {
                if (cur.ValueKind != JsonValueKind.Object) return (default, $"no such key: {s}");
                if (!cur.TryGetProperty(s, out var next)) return (default, $"no such key: {s}");
                cur = next;
            }
            return (cur, null);
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
