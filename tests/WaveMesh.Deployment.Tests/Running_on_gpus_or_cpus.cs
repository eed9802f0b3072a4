using YamlDotNet.RepresentationModel;

namespace WaveMesh.Deployment.Tests;

public sealed class Running_on_gpus_or_cpus
{
    [Theory]
    [MemberData(nameof(Apps.Gpu), MemberType = typeof(Apps))]
    public void Every_gpu_service_reserves_one_gpu_and_builds_for_cuda(string appId)
    {
        var service = ComposeFile.Main.Service(appId);

        var device = Assert.Single(service.At("deploy", "resources", "reservations", "devices") is YamlSequenceNode devices
            ? devices.Children.Cast<YamlMappingNode>() : []);
        Assert.Contains("gpu", device.Seq("capabilities").Strings());
        Assert.Equal("nvidia", device.Str("driver"));
        Assert.Equal("1", device.Str("count"));
        Assert.Equal("cuda", service.StrAt("build", "args", "TORCH_BACKEND"));
        var environment = ComposeFile.Environment(service);
        Assert.Equal("cuda", environment["WaveMesh__Worker__Device"]);
        Assert.Equal("1", environment["WaveMesh__Worker__Slots"]);
    }

    [Fact]
    public void The_control_service_reserves_no_gpu_and_builds_for_the_cpu()
    {
        var control = ComposeFile.Main.Service("control");

        Assert.Null(control.Child("deploy"));
        Assert.Equal("cpu", control.StrAt("build", "args", "TORCH_BACKEND"));
    }

    [Theory]
    [MemberData(nameof(Apps.Gpu), MemberType = typeof(Apps))]
    public void The_cpu_override_drops_the_gpu_reservation_and_builds_and_runs_for_the_cpu(string appId)
    {
        var service = ComposeFile.CpuOverride.Service(appId);

        // Compose merges device lists, so only !reset removes the reservation made by the main file.
        var devices = service.At("deploy", "resources", "reservations", "devices");
        Assert.NotNull(devices);
        Assert.Equal("!reset", devices.Tag.Value);
        Assert.Equal("cpu", service.StrAt("build", "args", "TORCH_BACKEND"));
        Assert.Equal("cpu", ComposeFile.Environment(service)["WaveMesh__Worker__Device"]);
        // A CPU image under its own tag, so switching between the two files never runs the other backend's image.
        Assert.NotEqual(ComposeFile.Main.Service(appId).Str("image"), service.Str("image"));
    }

    [Fact]
    public void The_cpu_override_touches_only_the_gpu_services()
    {
        Assert.Equal(Apps.GpuIds.Order(), ComposeFile.CpuOverride.Services.Keys.Order());
    }
}
