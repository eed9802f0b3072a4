#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>Marks libstdc++ symbol-version requirements the machine cannot satisfy as weak (see LibTorchSharpFix.targets).</summary>
public class WeakenMissingLibStdCxxVersions : Task
{
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    const uint ShtGnuVerdef = 0x6ffffffd;
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;
    const string LibStdCxx = "libstdc++.so.6";

    static readonly string[] SystemLibStdCxxPaths =
    {
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
        "/lib64/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string? systemLib = null;
        foreach (var p in SystemLibStdCxxPaths)
            if (File.Exists(p)) { systemLib = p; break; }
        if (systemLib == null)
        {
            Log.LogMessage(MessageImportance.Low, "No system libstdc++ found; libLibTorchSharp.so left as shipped.");
            return true;
        }

        HashSet<string> defined;
        try { defined = DefinedVersions(File.ReadAllBytes(systemLib)); }
        catch (Exception e)
        {
            Log.LogMessage(MessageImportance.High, $"Could not read symbol versions of {systemLib} ({e.Message}); libLibTorchSharp.so left as shipped.");
            return true;
        }

        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            var bytes = File.ReadAllBytes(path);
            var weakened = WeakenMissing(bytes, defined);
            if (weakened.Count == 0) continue;
            // Write a fresh file and move it over: the output may be a hard link into the NuGet cache.
            var tmp = path + ".wavemesh-fix.tmp";
            File.WriteAllBytes(tmp, bytes);
            File.Replace(tmp, path, null);
            Log.LogMessage(MessageImportance.High,
                $"WaveMesh: marked {string.Join(", ", weakened)} weak in {path} (this machine's libstdc++ lacks it).");
        }
        return true;
    }

    static HashSet<string> DefinedVersions(byte[] elf)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sh in Sections(elf))
        {
            if (sh.Type != ShtGnuVerdef) continue;
            var strtab = Sections(elf)[(int)sh.Link];
            long off = (long)sh.Offset;
            for (uint i = 0; i < sh.Info; i++)
            {
                ushort cnt = U16(elf, off + 6);
                uint aux = U32(elf, off + 12), next = U32(elf, off + 16);
                long a = off + aux;
                for (int j = 0; j < cnt; j++)
                {
                    result.Add(Str(elf, (long)strtab.Offset + U32(elf, a)));
                    a += U32(elf, a + 4);
                }
                if (next == 0) break;
                off += next;
            }
        }
        return result;
    }

    static List<string> WeakenMissing(byte[] elf, HashSet<string> defined)
    {
        var weakened = new List<string>();
        var sections = Sections(elf);
        foreach (var sh in sections)
        {
            if (sh.Type != ShtGnuVerneed) continue;
            var strtab = sections[(int)sh.Link];
            long off = (long)sh.Offset;
            for (uint i = 0; i < sh.Info; i++)
            {
                ushort cnt = U16(elf, off + 2);
                string file = Str(elf, (long)strtab.Offset + U32(elf, off + 4));
                uint aux = U32(elf, off + 8), next = U32(elf, off + 12);
                long a = off + aux;
                for (int j = 0; j < cnt; j++)
                {
                    string name = Str(elf, (long)strtab.Offset + U32(elf, a + 8));
                    ushort flags = U16(elf, a + 4);
                    if (file == LibStdCxx && !defined.Contains(name) && (flags & VerFlgWeak) == 0)
                    {
                        flags |= VerFlgWeak;
                        elf[a + 4] = (byte)flags;
                        elf[a + 5] = (byte)(flags >> 8);
                        weakened.Add(name);
                    }
                    a += U32(elf, a + 12);
                }
                if (next == 0) break;
                off += next;
            }
        }
        return weakened;
    }

    struct Section { public uint Type; public ulong Offset; public uint Link; public uint Info; }

    static List<Section> Sections(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");
        ulong shoff = U64(elf, 0x28);
        ushort shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            long b = (long)shoff + (long)i * shentsize;
            list.Add(new Section { Type = U32(elf, b + 4), Offset = U64(elf, b + 24), Link = U32(elf, b + 40), Info = U32(elf, b + 44) });
        }
        return list;
    }

    static ushort U16(byte[] b, long o) => (ushort)(b[o] | b[o + 1] << 8);
    static uint U32(byte[] b, long o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
    static ulong U64(byte[] b, long o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;

    static string Str(byte[] b, long o)
    {
        long e = o;
        while (b[e] != 0) e++;
        return Encoding.ASCII.GetString(b, (int)o, (int)(e - o));
    }
}
