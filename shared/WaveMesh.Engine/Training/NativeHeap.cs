using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Training;

/// <summary>What a process holds natively: resident memory and live tensors, read cheaply, and how often it has trimmed its heap.</summary>
public readonly record struct MemorySnapshot(long ResidentBytes, long LiveTensors, int HeapTrims)
{
    public override string ToString() => $"{ResidentBytes / (1 << 20):N0} MB resident, {LiveTensors:N0} live tensors, {HeapTrims:N0} heap trims";
}

/// <summary>
/// libtorch allocates tensors on CPU with glibc's malloc, which keeps what a job freed (in one arena per thread that
/// ever allocated, under a threshold it raises after each large free) resident for the rest of the process: the
/// default run grew to 4.5 GB. <see cref="Release"/>, after each job, finalises tensors nobody disposed and hands
/// freed memory back to the system (malloc_trim), so the next job starts from what the process really holds.
/// Measured alternatives (the default run, 2026-12-05): a fixed low mmap threshold made training five times slower
/// (every step's activations became fresh page faults); capping malloc at two arenas on top of this gave the same peak.
/// Within a job the heap fragments too, so the training and inference loops trim as they go when it has grown
/// (<see cref="Trimmer"/>).
/// </summary>
public static class NativeHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    /// <summary>After a job: tensors left to the finaliser are freed now, and free heap memory goes back to the system.</summary>
    public static void Release()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Trim();
    }

    static int trims;

    /// <summary>How many times this process has trimmed its heap (<see cref="Trim"/>), for the debug log.</summary>
    public static int Trims => Volatile.Read(ref trims);

    /// <summary>Hands free heap memory back to the system (glibc's malloc_trim; nothing elsewhere).</summary>
    public static void Trim()
    {
        if (!OperatingSystem.IsLinux()) return;
        Interlocked.Increment(ref trims);
        try { MallocTrim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    /// <summary>
    /// How far a loop lets its heap grow past what it held one batch after its last trim before it trims again. Within
    /// one pass the heap fragments: the L6 D128 teacher answering 60,000 images at batch 500 took the process from 0.25
    /// to 0.7-1.4 GB (varying run to run with thread timing) though each batch freed all it allocated. Trimming on a
    /// timer instead (every 2 s) cost the training loops 4-8% (a trim makes the next step fault its pages in again);
    /// trimming on growth costs nothing where nothing grows.
    /// </summary>
    public const long TrimMargin = 256L << 20;

    /// <summary>A loop's trimmer: <see cref="HeapTrimmer.Tick"/> after every batch trims when the heap grew by <see cref="TrimMargin"/>.</summary>
    public static HeapTrimmer Trimmer() => new(TrimMargin, ResidentBytes);

    /// <summary>Resident memory of this process from /proc/self/statm (cheap enough to read every step); -1 where there is none.</summary>
    public static long ResidentBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return -1;
        }
    }

    /// <summary>Resident memory of this process and the tensors alive in it.</summary>
    public static MemorySnapshot Snapshot()
    {
        long resident = ResidentBytes();
        if (resident < 0)
        {
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            resident = self.WorkingSet64;
        }
        return new MemorySnapshot(resident, Tensor.TotalCount, Trims);
    }
}

/// <summary>
/// Trims the heap (<see cref="NativeHeap.Trim"/>) from inside a loop when resident memory has grown by more than a
/// margin since the batch after the last trim (or the first batch): a loop whose heap does not grow never trims.
/// </summary>
public sealed class HeapTrimmer(long margin, Func<long> resident)
{
    long settled = -1;

    /// <summary>How many times this trimmer has trimmed.</summary>
    public int Trims { get; private set; }

    /// <summary>Call after each batch, with the batch's tensors disposed.</summary>
    public void Tick()
    {
        long now = resident();
        if (now < 0) return;
        if (settled < 0)
        {
            settled = now;
            return;
        }
        if (now - settled <= margin) return;
        NativeHeap.Trim();
        Trims++;
        settled = -1;
    }
}
