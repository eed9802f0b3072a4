using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Contracts;

/// <summary>The one JSON shape of contracts on every transport and in every store: snake_case, no indentation, strict about required fields.</summary>
public static class ContractJson
{
    public static readonly JsonSerializerOptions Options = ApplyRules(new() { DefaultIgnoreCondition = JsonIgnoreCondition.Never });

    /// <summary>
    /// The contracts' rules, set on <paramref name="options"/> (also used by transports that own their serializer, such
    /// as MassTransit's): snake_case names, named floating-point literals, and strictness about required fields.
    /// </summary>
    public static JsonSerializerOptions ApplyRules(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        // A message missing a field its record requires, or holding null where the contract says never null, is not
        // that message: refuse it at the door instead of running a job on nulls.
        options.RespectRequiredConstructorParameters = true;
        options.RespectNullableAnnotations = true;
        return options;
    }

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, value!.GetType(), Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"empty {typeof(T).Name}");

    public static object Deserialize(string json, Type type) =>
        JsonSerializer.Deserialize(json, type, Options) ?? throw new JsonException($"empty {type.Name}");
}
