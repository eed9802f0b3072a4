using WaveMesh.ControlPlane;
using WaveMesh.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddControlPlane();

var app = builder.Build();
app.MapControlPlane();
app.MapDefaultEndpoints();
app.Run();
