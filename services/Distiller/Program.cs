using WaveMesh.ServiceDefaults;
using WaveMesh.StageHosting;
using WaveMesh.Stages;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddStageWorker(new DistillStage());

var app = builder.Build();
app.MapStageWorker();
app.MapDefaultEndpoints();
app.Run();
