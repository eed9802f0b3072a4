using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using WaveMesh.Safetensors;
using WaveMesh.Services.Tests.Hosting;
using WaveMesh.Testing;
using Xunit.Abstractions;

namespace WaveMesh.Services.Tests;

/// <summary>The control service's REST API refuses what it must, before anything reaches the store. No training.</summary>
public sealed class Securing_the_control_api(ITestOutputHelper output) : IAsyncLifetime
{
    const long MaxUpload = 200_000;
    Mesh mesh = null!;
    HttpClient anonymous = null!;
    static readonly byte[] Teacher = Checkpoints.Untrained(Checkpoints.TeacherSpec, seed: 3);   // ~110 kB

    public async Task InitializeAsync()
    {
        mesh = await Mesh.StartAsync();
        var control = await mesh.StartControlAsync(mesh.ControlSettings(maxUploadBytes: MaxUpload));
        anonymous = new HttpClient { BaseAddress = control.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        foreach (var line in mesh.Logs.Lines.TakeLast(30)) output.WriteLine(line);
        anonymous.Dispose();
        await mesh.DisposeAsync();
    }

    static ByteArrayContent Octets(byte[] bytes, string? sha256 = null)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (sha256 is not null) content.Headers.Add("X-Content-SHA256", sha256);
        return content;
    }

    static HttpRequestMessage Post(string path, HttpContent content, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>Nothing the control service could have written: no artifact, no teacher, no pipeline.</summary>
    void AssertNothingStored()
    {
        var keys = mesh.Sidecar.Snapshot(Mesh.Store).Keys.ToList();
        Assert.DoesNotContain(keys, k => k.StartsWith("artifact/", StringComparison.Ordinal) || k.StartsWith("chunk/", StringComparison.Ordinal));
        Assert.DoesNotContain(keys, k => k.StartsWith("record/control/", StringComparison.Ordinal));
        Assert.Empty(mesh.Sidecar.Published);
        Assert.Empty(Directory.Exists(Path.Combine(mesh.Root, "control", "uploads")) ? Directory.GetFiles(Path.Combine(mesh.Root, "control", "uploads")) : []);
    }

    [Fact]
    public async Task Mutating_calls_without_the_bearer_token_are_refused_with_401()
    {
        using var noToken = await anonymous.SendAsync(Post("/api/teachers/t1", Octets(Teacher), null));
        using var wrongToken = await anonymous.SendAsync(Post("/api/teachers/t1", Octets(Teacher), "not-the-token"));
        using var register = await anonymous.SendAsync(Post("/api/teachers/t1/versions",
            new StringContent($$"""{"digest":"{{new string('a', 64)}}"}""", Encoding.UTF8, "application/json"), null));
        using var pipeline = await anonymous.PutAsync("/api/pipelines/p1",
            new StringContent("""{"teacher":"t1","config":"templates: { size: 16 }\ntargets: [1x16x1]"}""", Encoding.UTF8, "application/json"));
        using var read = await anonymous.GetAsync("/api/runs");

        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, register.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, pipeline.StatusCode);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);   // reading is open; only changes need the token
        AssertNothingStored();
    }

    [Fact]
    public async Task An_upload_larger_than_MaxUploadBytes_is_refused_with_413()
    {
        var big = new byte[MaxUpload + 1];
        Teacher.CopyTo(big, 0);

        // With Content-Length the service refuses before reading (the client waits for it: Expect: 100-continue) ...
        var request = Post("/api/teachers/big", Octets(big), Mesh.ControlApiToken);
        request.Headers.ExpectContinue = true;
        using var declared = await mesh.ControlApi.SendAsync(request);
        // ... and without one (chunked) it stops reading at the limit and answers before the body has ended.
        var chunked = await PostChunkedAsync(mesh.ControlApi.BaseAddress!, "/api/teachers/big", big);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal(413, chunked);
        Assert.Equal(HttpStatusCode.NotFound, (await mesh.ControlApi.GetAsync("/api/teachers/big")).StatusCode);
        AssertNothingStored();
    }

    [Fact]
    public async Task A_corrupt_safetensors_file_or_a_file_that_is_no_ViT_is_refused_with_400_and_nothing_is_stored()
    {
        var truncated = Teacher[..(Teacher.Length / 2)];
        var garbage = Encoding.UTF8.GetBytes("this is not a safetensors file at all, just some text of a reasonable length");
        var notVit = NotAVit();

        using var a = await mesh.ControlApi.SendAsync(Post("/api/teachers/bad", Octets(truncated), Mesh.ControlApiToken));
        using var b = await mesh.ControlApi.SendAsync(Post("/api/teachers/bad", Octets(garbage), Mesh.ControlApiToken));
        using var c = await mesh.ControlApi.SendAsync(Post("/api/teachers/bad", Octets(notVit), Mesh.ControlApiToken));

        Assert.Equal([HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest], new[] { a.StatusCode, b.StatusCode, c.StatusCode });
        Assert.Contains("not a valid ViT checkpoint", await c.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await mesh.ControlApi.GetAsync("/api/teachers/bad")).StatusCode);
        AssertNothingStored();
    }

    [Fact]
    public async Task An_upload_whose_SHA_256_differs_from_the_one_the_client_sent_is_refused_with_400()
    {
        var other = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("something else")));

        using var refused = await mesh.ControlApi.SendAsync(Post("/api/teachers/checked", Octets(Teacher, other), Mesh.ControlApiToken));

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("corrupted in transit", await refused.Content.ReadAsStringAsync());
        AssertNothingStored();
    }

    [Fact]
    public async Task An_upload_with_the_right_SHA_256_is_stored_and_registered()
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(Teacher));

        using var created = await mesh.ControlApi.SendAsync(Post("/api/teachers/checked", Octets(Teacher, digest.ToUpperInvariant()), Mesh.ControlApiToken));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Contains(digest, await created.Content.ReadAsStringAsync());
        Assert.Contains($"artifact/{digest}", mesh.Sidecar.Snapshot(Mesh.Store).Keys);
        Assert.Equal(HttpStatusCode.OK, (await mesh.ControlApi.GetAsync("/api/teachers/checked")).StatusCode);
    }

    /// <summary>
    /// Sends the body as one chunk of a chunked request, without the closing chunk, and returns the status the server
    /// answered with (a raw socket: the server must decide from what it has read, and no unread bytes make it reset).
    /// </summary>
    static async Task<int> PostChunkedAsync(Uri baseAddress, string path, byte[] body)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = tcp.GetStream();
        var head = $"POST {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nAuthorization: Bearer {Mesh.ControlApiToken}\r\n" +
                   $"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n{body.Length:X}\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(body);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var status = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return int.Parse(status!.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A valid safetensors file whose tensors are not those of a ViT.</summary>
    static byte[] NotAVit()
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, [new SafetensorsWriter.Entry("encoder.weight", [4, 4], new float[16]), new("decoder.bias", [4], new float[4])]);
        return stream.ToArray();
    }
}
