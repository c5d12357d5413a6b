using System.Reflection;
using System.Runtime.InteropServices;

[assembly: AssemblyTitle("SensorNode.Firmware.Device")]
[assembly: AssemblyDescription("SensorNode ESP32 firmware: DHT11/DHT22 over MQTT (nanoFramework)")]
[assembly: AssemblyCompany("SensorNode")]
[assembly: AssemblyProduct("SensorNode")]
[assembly: AssemblyCopyright("SensorNode contributors")]
[assembly: ComVisible(false)]
[assembly: AssemblyVersion("1.0.0.0")]
[assembly: AssemblyFileVersion("1.0.0.0")]
