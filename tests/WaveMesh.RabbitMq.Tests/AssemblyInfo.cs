// Two cores, one broker that a test restarts, and services that train models: test classes run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
