using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace WaveMesh.Reporting.Internal;

/// <summary>Small helpers for writing the reports' JSON by hand, so key names are exactly the documented ones.</summary>
internal static class Json
{
    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        // Reports are files, not HTML: keep "—", "±" and "<" readable instead of \u escapes.
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var writer = new Utf8JsonWriter(stream, options))
        {
            body(writer);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>JSON has no NaN or infinity, and a partial run may have them: write null instead of throwing.</summary>
    public static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, value);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    public static void String(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    public static void Teacher(Utf8JsonWriter w, TeacherSummary? t)
    {
        if (t is null)
        {
            w.WriteNull("teacher");
            return;
        }

        w.WriteStartObject("teacher");
        String(w, "digest", t.Digest);
        w.WriteNumber("depth", t.Depth);
        w.WriteNumber("width", t.Width);
        w.WriteNumber("heads", t.Heads);
        w.WriteNumber("parameters", t.Parameters);
        Number(w, "accuracy", t.Accuracy);
        w.WriteEndObject();
    }

    public static void Templates(Utf8JsonWriter w, TemplatesSummary? t)
    {
        if (t is null)
        {
            w.WriteNull("templates");
            return;
        }

        w.WriteStartObject("templates");
        String(w, "digest", t.Digest);
        w.WriteNumber("template_size", t.TemplateSize);
        w.WriteNumber("template_parameters", t.TemplateParameters);
        w.WriteNumber("aux_depth", t.AuxDepth);
        w.WriteNumber("aux_width", t.AuxWidth);
        w.WriteNumber("aux_heads", t.AuxHeads);
        Number(w, "aux_accuracy", t.AuxAccuracy);
        Number(w, "seconds", t.Seconds);
        w.WriteEndObject();
    }
}
