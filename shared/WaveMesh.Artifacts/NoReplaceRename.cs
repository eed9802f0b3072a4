using System.Runtime.InteropServices;

namespace WaveMesh.Artifacts;

/// <summary>A rename that never replaces an existing file and is atomic against other processes doing the same.</summary>
internal static partial class NoReplaceRename
{
    // Same value on Linux, macOS and the BSDs.
    private const int EEXIST = 17;

    /// <summary>Moves <paramref name="source"/> to <paramref name="destination"/>; false when the destination already exists.</summary>
    public static bool TryMove(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            // MoveFileEx without MOVEFILE_REPLACE_EXISTING already fails atomically when the destination exists.
            return TryFrameworkMove(source, destination);
        }

        // On Unix, File.Move(overwrite: false) checks for the destination and then calls rename(2), so two processes
        // can both pass the check and the later rename silently replaces the earlier file. link(2) either creates the
        // name or fails with EEXIST, atomically, so exactly one writer wins.
        if (Link(source, destination) == 0)
        {
            try
            {
                File.Delete(source);
            }
            catch (IOException)
            {
                // The destination is in place; a leftover source name in tmp/ is harmless.
            }

            return true;
        }

        if (Marshal.GetLastPInvokeError() == EEXIST)
        {
            return false;
        }

        // File systems without hard links (FAT, some network shares) end up here, as do real errors such as a missing
        // folder: the framework's move is the best remaining effort and reports errors in the usual way.
        return TryFrameworkMove(source, destination);
    }

    private static bool TryFrameworkMove(string source, string destination)
    {
        try
        {
            File.Move(source, destination, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(destination))
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existingPath, string newPath);
}
