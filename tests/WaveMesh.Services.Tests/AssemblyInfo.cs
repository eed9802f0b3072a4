// Two cores, and the services of a test train and evaluate models: test classes run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
