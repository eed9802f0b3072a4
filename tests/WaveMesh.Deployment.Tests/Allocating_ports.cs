namespace WaveMesh.Deployment.Tests;

public sealed class Allocating_ports
{
    static readonly ComposeFile Compose = ComposeFile.Main;

    [Fact]
    public void Published_host_ports_are_unique_across_the_compose_file()
    {
        var published = Compose.Services.SelectMany(s => ComposeFile.PublishedPorts(s.Value).Select(p => (Service: s.Key, p.Port))).ToList();

        var clashes = published.GroupBy(p => p.Port).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(p => p.Service))}");
        Assert.Empty(clashes);
        // The control API, the broker's management UI and the trace viewer are reachable from the host.
        Assert.Contains(("control", 5080), published);
        Assert.Contains(("rabbitmq", 15672), published);
    }

    [Fact]
    public void Only_the_control_service_of_the_five_is_published()
    {
        var publishing = Apps.Ids.Where(id => ComposeFile.PublishedPorts(Compose.Service(id)).Any()).ToList();

        Assert.Equal(["control"], publishing);
        var control = Compose.Service("control");
        Assert.Equal((5080, Assert.Single(ComposeFile.AspNetCorePorts(control))), Assert.Single(ComposeFile.PublishedPorts(control)));
    }

    [Fact]
    public void No_two_processes_in_one_network_namespace_listen_on_the_same_port()
    {
        var namespaces = Compose.Services.GroupBy(s => ComposeFile.NamespaceOwner(s.Key, s.Value)).ToList();
        var checkedSidecars = 0;

        foreach (var members in namespaces)
        {
            var listeners = members.SelectMany(m => Compose.Sidecars.ContainsKey(m.Key)
                    ? Daprd.Of(m.Value).ListeningPorts().Select(p => (Who: $"{m.Key} ({p.What})", p.Port))
                    : ComposeFile.AspNetCorePorts(m.Value).Select(p => (Who: $"{m.Key} (app)", Port: p)))
                .ToList();
            checkedSidecars += members.Count(m => Compose.Sidecars.ContainsKey(m.Key));

            var clashes = listeners.GroupBy(l => l.Port).Where(g => g.Count() > 1)
                .Select(g => $"namespace of {members.Key}, port {g.Key}: {string.Join(", ", g.Select(l => l.Who))}");
            Assert.Empty(clashes);
        }
        Assert.Equal(Apps.Ids.Count(), checkedSidecars);
    }
}
