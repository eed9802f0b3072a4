namespace WaveMesh.Contracts.Tests;

public sealed class Parsing_model_sizes
{
    [Theory]
    [InlineData("6x128x4", 6, 128, 4)]
    [InlineData("6X160X5", 6, 160, 5)]
    [InlineData("  2x64x2 ", 2, 64, 2)]
    [InlineData("12x768x12", 12, 768, 12)]
    public void Reads_depth_width_and_heads(string text, int depth, int width, int heads)
    {
        Assert.True(ModelSize.TryParse(text, out var size));
        Assert.Equal(new ModelSize(depth, width, heads), size);
    }

    [Theory]
    [InlineData("")]
    [InlineData("6x128")]
    [InlineData("6x128x4x2")]
    [InlineData("6*128*4")]
    [InlineData("Lx128x4")]
    [InlineData("6x128.5x4")]
    [InlineData("L6 D128 H4")]
    [InlineData("x128x4")]
    public void Refuses_text_that_is_not_three_whole_numbers(string text)
    {
        Assert.False(ModelSize.TryParse(text, out _));
    }

    [Fact]
    public void Round_trips_its_slug()
    {
        var size = new ModelSize(3, 96, 3);

        Assert.Equal("3x96x3", size.Slug);
        Assert.True(ModelSize.TryParse(size.Slug, out var again));
        Assert.Equal(size, again);
    }

    [Fact]
    public void Describes_itself_as_depth_width_and_heads()
    {
        Assert.Equal("L6 D160 H5", new ModelSize(6, 160, 5).ToString());
    }
}
