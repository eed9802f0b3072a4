using WaveMesh.Engine.Training;
using WaveMesh.Engine.Vit;
using WaveMesh.Models;
using static TorchSharp.torch;

namespace WaveMesh.Engine.Tests;

/// <summary>
/// A pass over a whole dataset must not pile up memory as it goes: a forward without gradient frees each block's
/// temporaries before the next block runs, and loops hand freed memory back to the system when their heap has grown.
/// </summary>
public sealed class Holding_memory_within_a_pass
{
    static readonly VitSpec Spec = Tiny.Family with { Depth = 3 };

    [Fact]
    public void A_forward_without_gradient_leaves_only_the_blocks_outputs_in_the_callers_scope()
    {
        using var model = VisionTransformer.Create(Spec, 0);
        using var images = randn(4, 1, 28, 28);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();

        var logits = model.forward(images);

        Assert.Equal([4L, 10L], logits.shape);
        // The embedding, one output per block, and the logits: every other temporary was freed inside its block.
        Assert.Equal(Spec.Depth + 2, scope.DisposablesCount);
    }

    [Fact]
    public void Freeing_a_blocks_temporaries_leaves_the_logits_bit_for_bit_as_when_all_are_kept()
    {
        using var model = VisionTransformer.Create(Spec, 1);
        using var images = randn([4, 1, 28, 28], generator: new Generator(2));
        var weights = model.Weights();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();

        var scoped = model.forward(images);
        var x = VitForward.Embed(Spec, n => weights[n], images);
        for (int l = 0; l < Spec.Depth; l++) x = VitForward.Block(Spec, n => weights[n], l, x);
        var kept = VitForward.Head(Spec, n => weights[n], x);

        Assert.True(scoped.Same(kept));
        Assert.True(scoped.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Training_keeps_a_steps_temporaries_in_the_steps_scope()
    {
        using var model = VisionTransformer.Create(Spec, 0);
        using var images = randn(4, 1, 28, 28);
        using var scope = NewDisposeScope();

        var logits = model.forward(images);
        logits.sum().backward();

        // Freed block by block, they made the training loops 6-8% slower; autograd holds most of them anyway.
        Assert.True(scope.DisposablesCount > 10 * Spec.Depth, $"{scope.DisposablesCount} tensors in the step's scope");
        Assert.All(model.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void A_trimmer_trims_when_the_heap_grew_past_its_margin_since_the_batch_after_the_last_trim()
    {
        const long MB = 1 << 20;
        // Resident memory after each batch: the first batch settles at 300 MB, the heap creeps up, a trim brings it
        // down and the batch after it settles again, lower.
        long[] readings = [300 * MB, 350 * MB, 556 * MB, 557 * MB, 280 * MB, 400 * MB, 537 * MB, 538 * MB];
        int next = 0;
        var trimmer = new HeapTrimmer(256 * MB, () => readings[next++]);
        var trimsAfter = new List<int>();
        foreach (var _ in readings)
        {
            trimmer.Tick();
            trimsAfter.Add(trimmer.Trims);
        }
        // 556 is exactly the margin above 300 (no trim), 557 one MB past it (trim); 280 settles; 537 is one MB past
        // 280 + 256 (trim); 538 settles.
        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 2], trimsAfter);
    }

    [Fact]
    public void A_trimmer_without_a_reading_of_resident_memory_never_trims()
    {
        var trimmer = new HeapTrimmer(0, () => -1);
        for (int i = 0; i < 5; i++) trimmer.Tick();
        Assert.Equal(0, trimmer.Trims);
    }

    [Fact]
    public void Resident_memory_is_read_on_linux()
    {
        if (!OperatingSystem.IsLinux()) return;
        long bytes = NativeHeap.ResidentBytes();
        Assert.InRange(bytes, 1L << 20, 1L << 40);
    }
}
