using WaveMesh.Safetensors;

namespace WaveMesh.Cli.Tests;

[Trait("Category", "EndToEnd")]
public sealed class Inspecting_checkpoints : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task Lists_the_tensors_and_metadata_of_a_safetensors_file()
    {
        var path = folder.PathOf("model.safetensors");
        SafetensorsWriter.WriteFile(path,
        [
            new SafetensorsWriter.Entry("blocks.0.attn.qkv.weight", [96, 32], new float[96 * 32]),
            new SafetensorsWriter.Entry("head.bias", [10], Enumerable.Range(0, 10).Select(i => (float)i).ToArray()),
        ], new Dictionary<string, string> { ["wavemesh.kind"] = "vit", ["note"] = "made by a test" });

        var result = await Cli.RunAsync(folder.Path, "inspect", path);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("2 tensors", result.Stdout);
        Assert.Contains("3,082 parameters", result.Stdout);
        Assert.Contains(result.Stdout.Split('\n'), l => l.Contains("blocks.0.attn.qkv.weight") && l.Contains("F32") && l.Contains("[96, 32]") && l.Contains("3,072"));
        Assert.Contains(result.Stdout.Split('\n'), l => l.Contains("head.bias") && l.Contains("F32") && l.Contains("[10]"));
        Assert.Contains(result.Stdout.Split('\n'), l => l.Contains("note") && l.Contains("made by a test"));
        Assert.Empty(result.Stderr.Trim());
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    public async Task Refuses_a_corrupt_file_with_one_line_on_stderr(string damage)
    {
        var path = folder.PathOf("broken.safetensors");
        if (damage == "truncated")
        {
            SafetensorsWriter.WriteFile(path, [new SafetensorsWriter.Entry("w", [64, 64], new float[64 * 64])]);
            var bytes = await File.ReadAllBytesAsync(path);
            await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
        }
        else
        {
            await File.WriteAllTextAsync(path, "this is not a safetensors file at all");
        }

        var result = await Cli.RunAsync(folder.Path, "inspect", path);

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: ", line);
        Assert.DoesNotContain("   at ", result.Stdout);
    }

    [Fact]
    public async Task Names_a_file_that_does_not_exist()
    {
        var path = folder.PathOf("missing.safetensors");

        var result = await Cli.RunAsync(folder.Path, "inspect", path);

        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("wavemesh: error: file not found: ", line);
        Assert.Contains(path, line);
    }
}
