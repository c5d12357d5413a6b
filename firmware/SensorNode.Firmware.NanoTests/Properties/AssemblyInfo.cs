using System.Reflection;
using System.Runtime.InteropServices;

[assembly: AssemblyTitle("NFUnitTest")]
[assembly: AssemblyDescription("SensorNode firmware core tests for the nanoFramework emulator")]
[assembly: AssemblyCompany("SensorNode")]
[assembly: AssemblyProduct("SensorNode")]
[assembly: AssemblyCopyright("SensorNode contributors")]
[assembly: ComVisible(false)]
[assembly: AssemblyVersion("1.0.0.0")]
[assembly: AssemblyFileVersion("1.0.0.0")]
