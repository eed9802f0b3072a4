using System.Text.Json;
using System.Text.Json.Serialization;

namespace WaveMesh.Contracts;

/// <summary>The one JSON shape of contracts on every transport and in every store: snake_case, no indentation, strict about required fields.</summary>
public static class ContractJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // A message missing a field its record requires, or holding null where the contract says never null, is not
        // that message: refuse it at the door instead of running a job on nulls.
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, value!.GetType(), Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"empty {typeof(T).Name}");

    public static object Deserialize(string json, Type type) =>
        JsonSerializer.Deserialize(json, type, Options) ?? throw new JsonException($"empty {type.Name}");
}
