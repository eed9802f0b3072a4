using WaveMesh.Data;

namespace WaveMesh.Engine.Training;

/// <summary>A task's data: training and test splits and the normalization every model of the task uses.</summary>
public sealed record TrainingData(ImageDataset Train, ImageDataset Test, Normalization Normalization)
{
    /// <summary>Normalization from the training split's channel statistics.</summary>
    public static TrainingData From(ImageDataset train, ImageDataset test)
    {
        var (mean, std) = train.ChannelStatistics();
        return new TrainingData(train, test, new Normalization(mean, std));
    }
}
