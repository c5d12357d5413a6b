using System.Reflection;
using System.Runtime.InteropServices;

[assembly: AssemblyTitle("SensorNode.Firmware.Core")]
[assembly: AssemblyDescription("SensorNode firmware core: topics, config, filtering, reporting, connection state machine")]
[assembly: AssemblyCompany("SensorNode")]
[assembly: AssemblyProduct("SensorNode")]
[assembly: AssemblyCopyright("SensorNode contributors")]
[assembly: ComVisible(false)]
[assembly: AssemblyVersion("1.0.0.0")]
[assembly: AssemblyFileVersion("1.0.0.0")]
