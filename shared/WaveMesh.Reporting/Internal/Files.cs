using System.Text;

namespace WaveMesh.Reporting.Internal;

/// <summary>Writes report files so that a crash mid-write never leaves a truncated report behind.</summary>
internal static class Files
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    public static void WriteText(string path, string text) => WriteBytes(path, Utf8NoBom.GetBytes(text));

    public static void WriteBytes(string path, byte[] bytes)
    {
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
