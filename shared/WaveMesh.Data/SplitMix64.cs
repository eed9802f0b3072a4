namespace WaveMesh.Data;

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood): a tiny, fast, well-mixed 64-bit generator. Used for every
/// shuffle and subset so results depend only on the seed, never on torch's global RNG or on the
/// .NET <see cref="Random"/> implementation.
/// </summary>
internal struct SplitMix64
{
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong Next()
    {
        _state += Gamma;
        return Finalize(_state);
    }

    /// <summary>Uniform integer in [0, bound) without modulo bias (Lemire's multiply-and-reject).</summary>
    public ulong NextBelow(ulong bound)
    {
        if (bound == 0) throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        ulong high = Math.BigMul(Next(), bound, out ulong low);
        if (low < bound)
        {
            ulong threshold = (0UL - bound) % bound;
            while (low < threshold)
            {
                high = Math.BigMul(Next(), bound, out low);
            }
        }
        return high;
    }

    /// <summary>The SplitMix64 output function: a bijective avalanche mix of 64 bits.</summary>
    public static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Derives a well-mixed seed from a base seed, a purpose tag and a sequence of values.</summary>
    public static ulong Derive(long seed, ulong purpose, params ReadOnlySpan<long> values)
    {
        ulong h = Finalize((ulong)seed + Gamma * (purpose + 1));
        foreach (long v in values)
        {
            h = Finalize(h + Gamma + (ulong)v);
        }
        return h;
    }

    /// <summary>Fisher-Yates shuffle of the whole array.</summary>
    public void Shuffle(long[] items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = (int)NextBelow((ulong)i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    // Purpose tags keep the streams of different features independent for the same user seed.
    internal const ulong ShufflePurpose = 1;
    internal const ulong SubsetPurpose = 2;
    internal const ulong AugmentPurpose = 3;
}
